#[path = "../../../crates/meishi-qr/tests/support/hostile.rs"]
mod hostile;
use meishi_qr::{Pass, Threshold::*};
use std::time::Instant;
fn main() {
    std::panic::set_hook(Box::new(|_| {}));
    let img = hostile::noise(1000, 7);
    let img = image::imageops::blur(&img, 3.0);
    let g = meishi_qr::prepare(&img);
    for (scale, blur, threshold) in [
        (4, 0, Rqrr),
        (4, 0, Otsu),
        (4, 0, Sauvola(8)),
        (4, 0, Rxing),
        (4, 15, Otsu),
        (4, 30, Otsu),
        (8, 0, Otsu),
        (8, 0, Rxing),
        (8, 0, Sauvola(8)),
        (12, 0, Otsu),
    ] {
        let p = Pass {
            scale,
            blur,
            threshold,
        };
        let t = Instant::now();
        for _ in 0..3 {
            p.run(&g);
        }
        let px = (g.width() * scale / 4) as f64 * (g.height() * scale / 4) as f64;
        eprintln!(
            "{p:?} {:.1} ns/px",
            t.elapsed().as_secs_f64() / 3.0 * 1e9 / px
        );
    }
}
