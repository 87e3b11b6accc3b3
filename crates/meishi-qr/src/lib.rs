//! meishi-qr
