// meishi web app: live updates, the people filter, and scanning. Plain JS, no build step.
// Card text from the server is only ever put in the page as text (textContent), or as HTML
// the server rendered and escaped.
"use strict";
(function () {
  const csrf = (document.querySelector('meta[name="csrf"]') || {}).content || "";
  const live = document.getElementById("live");
  function say(text) { if (live) live.textContent = text; }

  // Live regions: when the node reports something, fetch this page again and swap in the
  // regions that changed (the server renders and escapes them).
  const regions = ["tasks", "people", "inbox", "intros", "contacts", "updates", "nav"];
  let refreshTimer = null;
  function refresh() {
    if (refreshTimer) return;
    refreshTimer = setTimeout(async function () {
      refreshTimer = null;
      try {
        const r = await fetch(location.href, { credentials: "same-origin" });
        if (!r.ok) return;
        const doc = new DOMParser().parseFromString(await r.text(), "text/html");
        for (const id of regions) {
          const now = document.getElementById(id), next = doc.getElementById(id);
          if (now && next && now.innerHTML !== next.innerHTML) {
            now.replaceChildren(...Array.from(next.childNodes).map(n => document.importNode(n, true)));
          }
        }
        applyFilter();
      } catch (e) { /* the next event tries again */ }
    }, 150);
  }
  // One event stream per open page, closed when the page is left: a browser keeps at most six
  // connections to one server, and pages kept in its back/forward cache would hold theirs.
  let es = null;
  function listen() {
    if (!window.EventSource || !document.body.dataset.page || es) return;
    es = new EventSource("/live");
    // What happened between this page's rendering and the stream's opening (an action that
    // finished right after its redirect) reached no page: look once when it opens.
    es.addEventListener("open", refresh);
    es.addEventListener("live", function (ev) {
      let msg = {};
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      if (msg.kind === "report" && msg.human) say(msg.human);
      if (msg.kind === "task" && msg.what) say(msg.what + ": " + msg.detail);
      refresh();
    });
  }
  window.addEventListener("pagehide", function () { if (es) { es.close(); es = null; } });
  window.addEventListener("pageshow", function (ev) { listen(); if (ev.persisted) refresh(); });
  listen();

  // The people filter: hides people whose name and headline do not contain every word.
  const filter = document.getElementById("filter");
  function applyFilter() {
    if (!filter) return;
    const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    document.querySelectorAll(".person[data-text]").forEach(function (li) {
      const t = li.dataset.text;
      li.hidden = !words.every(w => t.includes(w));
    });
  }
  if (filter) filter.addEventListener("input", applyFilter);

  // Scanning: a photo, or camera frames, posted to the server's scanner.
  const result = document.getElementById("scan-result");
  function show(found, error) {
    if (!result) return;
    result.replaceChildren();
    if (error) {
      const p = document.createElement("p"); p.className = "error"; p.setAttribute("role", "alert");
      p.textContent = error; result.appendChild(p);
    }
    const ul = document.createElement("ul"); ul.className = "found";
    for (const f of found) {
      const li = document.createElement("li"); li.className = "found-" + f.kind;
      const span = document.createElement("span"); span.textContent = f.message; li.appendChild(span);
      if (f.contact) {
        const a = document.createElement("a"); a.href = "/contacts/" + encodeURIComponent(f.contact);
        a.className = "button"; a.textContent = "Open contact"; li.appendChild(a);
      }
      if (f.join) {
        const form = document.createElement("form"); form.method = "post"; form.action = "/event/join";
        for (const [k, v] of [["csrf", csrf], ["code", f.join]]) {
          const i = document.createElement("input"); i.type = "hidden"; i.name = k; i.value = v; form.appendChild(i);
        }
        const b = document.createElement("button"); b.type = "submit"; b.className = "primary";
        b.textContent = "Join this event"; form.appendChild(b); li.appendChild(form);
      }
      ul.appendChild(li);
    }
    result.appendChild(ul);
  }
  async function post(blob, frame) {
    const r = await fetch("/api/scan" + (frame ? "?frame=1" : ""), {
      method: "POST", body: blob, credentials: "same-origin",
      headers: { "x-csrf-token": csrf, "content-type": blob.type || "application/octet-stream" },
    });
    let body = {};
    try { body = await r.json(); } catch (e) { body = { error: "The server answered " + r.status + "." }; }
    return body;
  }
  const photo = document.getElementById("photo");
  if (photo) photo.addEventListener("change", async function () {
    const file = photo.files && photo.files[0];
    if (!file) return;
    show([], null); say("Reading " + file.name + "…");
    const body = await post(file, false);
    show(body.found || [], body.error || null);
    say(body.error ? "No contact read." : "Done.");
  });

  const video = document.getElementById("camera");
  const start = document.getElementById("camera-start");
  const stop = document.getElementById("camera-stop");
  let stream = null, running = false;
  async function frames() {
    const canvas = document.createElement("canvas");
    while (running) {
      if (video.videoWidth > 0) {
        const scale = Math.min(1, 1280 / Math.max(video.videoWidth, video.videoHeight));
        canvas.width = Math.round(video.videoWidth * scale);
        canvas.height = Math.round(video.videoHeight * scale);
        canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
        const blob = await new Promise(res => canvas.toBlob(res, "image/jpeg", 0.9));
        if (blob && running) {
          try {
            const body = await post(blob, true);
            if ((body.found || []).length > 0) { show(body.found, null); say("Read a QR code."); stopCamera(); break; }
          } catch (e) { /* the next frame tries again */ }
        }
      }
      await new Promise(res => setTimeout(res, 250));
    }
  }
  function stopCamera() {
    running = false;
    if (stream) stream.getTracks().forEach(t => t.stop());
    stream = null;
    if (start) start.hidden = false;
    if (stop) stop.hidden = true;
    if (video) video.hidden = true;
  }
  if (start && video) start.addEventListener("click", async function () {
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    } catch (e) { show([], "The camera is not available: " + e.message); return; }
    video.hidden = false; video.srcObject = stream; await video.play();
    running = true; start.hidden = true; stop.hidden = false; say("Looking for a QR code…");
    frames();
  });
  if (stop) stop.addEventListener("click", stopCamera);
})();
