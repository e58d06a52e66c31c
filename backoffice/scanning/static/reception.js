// Reception page: keyboard-wedge scanners type the QR text then Enter into the focused input; a photo is decoded
// on the server; the live camera uses BarcodeDetector where the browser has it. Every POST carries X-CSRFToken.
// Back-to-back scans: the input keeps the focus while a result is shown, so the scanner's next code lands there
// whole (its first key also clears the result), and a code that arrives while one is being checked waits in a
// queue: none is lost, none is cut.
(function () {
  "use strict";
  var root = document.getElementById("reception");
  if (!root) { return; }
  var d = root.dataset;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var form = document.getElementById("scan-form");
  var input = document.getElementById("scan-input");
  var select = document.getElementById("checkpoint");
  var photo = document.getElementById("photo");
  var result = document.getElementById("result");
  var recentList = document.getElementById("recent");
  var cameraButton = document.getElementById("camera-button");
  var cameraBox = document.getElementById("camera-box");
  var video = document.getElementById("camera");
  var inflight = false, queue = [], hideTimer = null, stream = null, detector = null;
  var lastCamera = "", lastCameraAt = 0;
  // Keys that only dismiss a result (when nothing is being typed): they never reach the input.
  var DISMISS = { " ": true, "Escape": true, "Enter": true };

  if (!form) { return; }
  try {
    var saved = window.localStorage.getItem("reception.checkpoint");
    if (saved && select.querySelector('option[value="' + saved + '"]')) { select.value = saved; }
  } catch (e) { /* private mode: no storage */ }
  select.addEventListener("change", function () {
    try { window.localStorage.setItem("reception.checkpoint", select.value); } catch (e) { /* ignore */ }
    loadRecent(); focusInput();
  });

  function focusInput() { if (document.activeElement !== input) { input.focus({ preventScroll: true }); } }
  function shown() { return !result.classList.contains("d-none"); }

  function beep(ok) {
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) { return; }
      var ctx = beep.ctx || (beep.ctx = new Ctx());
      var tones = ok ? [880, 1320] : [220, 180, 220];
      tones.forEach(function (freq, i) {
        var osc = ctx.createOscillator(), gain = ctx.createGain();
        osc.frequency.value = freq; osc.type = ok ? "sine" : "square";
        gain.gain.value = 0.15;
        osc.connect(gain); gain.connect(ctx.destination);
        var t = ctx.currentTime + i * 0.16;
        osc.start(t); osc.stop(t + 0.14);
      });
    } catch (e) { /* sound is a courtesy */ }
  }

  // Every text goes through textContent: names and the organization's instruction are shown escaped.
  function show(kind, colourText, name, idText, reason, instruction, note) {
    result.className = "rc-result " + kind;
    result.dataset.colour = kind;
    document.getElementById("result-colour").textContent = colourText;
    document.getElementById("result-name").textContent = name || "";
    document.getElementById("result-id").textContent = idText || "";
    document.getElementById("result-reason").textContent = reason || "";
    document.getElementById("result-instruction").textContent = instruction || "";
    document.getElementById("result-note").textContent = note || "";
    beep(kind === "green");
    clearTimeout(hideTimer);
    hideTimer = setTimeout(hide, 4000);
    focusInput();
  }

  function hide() {
    clearTimeout(hideTimer);
    if (!shown()) { return; }
    result.className = "rc-result d-none";
    focusInput();
  }
  result.addEventListener("click", hide);
  // While a result is shown any key clears it; a dismissing key typed on an empty input goes no further, any
  // other key (the scanner's next code) goes on into the input, which already has the focus.
  document.addEventListener("keydown", function (ev) {
    if (!shown() || ev.ctrlKey || ev.altKey || ev.metaKey || ev.key === "Shift" || ev.key === "Tab") { return; }
    if (DISMISS[ev.key] && input.value === "") { ev.preventDefault(); hide(); return; }
    if (document.activeElement !== input && ev.key.length === 1) { focusInput(); }
    hide();
  }, true);

  function showResponse(status, data) {
    if (data && data.error) {
      // What to do, then what happened; the code stays for scripts, never on the screen.
      show("rejected", d.msgRejected, "", "", data.error.advice || d.msgAdvice, "", data.error.message);
      return;
    }
    if (status >= 400 || !data) { show("rejected", d.msgRejected, "", "", d.msgNetwork, "", ""); return; }
    var notes = [data.staff ? d.msgStaff : d.msgVisitor];
    if (data.action === "extended") { notes.push(d.msgExtended); }
    if (data.action === "check_out") { notes.push(d.msgExit); }
    if (data.action === "no_open_stay") { notes.push(d.msgNoStay); }
    if (data.action === "refused") { notes.push(d.msgRefused); }
    if (!data.signed) { notes.push(d.msgUnsigned); }
    show(data.colour, data.colour === "green" ? d.msgGreen : d.msgBlack, data.name, data.id_masked, data.reason,
         data.colour === "green" ? "" : data.instruction, notes.join(" · "));
    loadRecent();
  }

  // One request at a time, in the order the codes came.
  function pump() {
    if (inflight || !queue.length) { return; }
    var next = queue.shift();
    inflight = true;
    var h = { "X-CSRFToken": csrf, "Accept": "application/json" };
    Object.keys(next.headers || {}).forEach(function (k) { h[k] = next.headers[k]; });
    fetch(next.url, { method: "POST", body: next.body, headers: h, credentials: "same-origin" })
      .then(function (response) {
        return response.json().then(function (data) { showResponse(response.status, data); },
                                     function () { showResponse(response.status, null); });
      })
      .catch(function () { show("rejected", d.msgRejected, "", "", d.msgNetwork, "", ""); })
      .then(function () { inflight = false; pump(); });
  }

  function send(url, body, headers) {
    queue.push({ url: url, body: body, headers: headers });
    pump();
  }

  function scanText(text, method) {
    if (!text || !text.trim()) { return; }
    send(d.scanUrl, JSON.stringify({ text: text, checkpoint: select.value, method: method || "scanner" }),
         { "Content-Type": "application/json" });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value;
    input.value = "";  // at once: the next code's keys may already be coming
    scanText(text, "scanner");
  });

  photo.addEventListener("change", function () {
    if (!photo.files || !photo.files.length) { return; }
    var data = new FormData();
    data.append("image", photo.files[0]);
    data.append("checkpoint", select.value);
    photo.value = "";
    send(d.imageUrl, data, {});
  });

  // Keep the focus on the input so a hardware scanner's keystrokes always land there.
  document.addEventListener("click", function (ev) {
    if (!ev.target.closest("select, button, label, input, a, #result")) { focusInput(); }
  });
  window.addEventListener("focus", focusInput);

  // Live camera, where the browser can detect QR codes itself.
  if ("BarcodeDetector" in window && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    cameraButton.classList.remove("d-none");
  }
  function stopCamera() {
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
    cameraBox.classList.add("d-none");
  }
  function detectLoop() {
    if (!stream) { return; }
    if (inflight || shown() || video.readyState < 2) { setTimeout(detectLoop, 250); return; }
    detector.detect(video).then(function (codes) {
      var value = codes.length === 1 ? codes[0].rawValue : "";
      // The same code still in front of the camera is not a new scan.
      if (value && (value !== lastCamera || Date.now() - lastCameraAt > 5000)) {
        lastCamera = value; lastCameraAt = Date.now();
        scanText(value, "camera");
      }
      setTimeout(detectLoop, 200);
    }, function () { setTimeout(detectLoop, 500); });
  }
  cameraButton.addEventListener("click", function () {
    try { detector = new window.BarcodeDetector({ formats: ["qr_code"] }); } catch (e) { detector = null; }
    if (!detector) { show("rejected", d.msgRejected, "", "", d.msgCameraNone, "", ""); return; }
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false }).then(function (s) {
      stream = s; video.srcObject = s; video.play(); cameraBox.classList.remove("d-none"); detectLoop();
    }, function () { show("rejected", d.msgRejected, "", "", d.msgCameraNone, "", ""); });
  });
  document.getElementById("camera-close").addEventListener("click", stopCamera);

  function loadRecent() {
    fetch(d.recentUrl + "?checkpoint=" + encodeURIComponent(select.value),
          { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { scans: [] }; })
      .then(function (data) {
        recentList.textContent = "";
        data.scans.forEach(function (s) {
          var li = document.createElement("li");
          li.className = "list-group-item";
          li.dataset.colour = s.colour;
          var left = document.createElement("span");
          var dot = document.createElement("span");
          dot.className = "rc-dot " + s.colour; dot.title = s.colour_label;
          left.appendChild(dot);
          left.appendChild(document.createTextNode(s.time + " · " + s.name + " · " + s.id_masked +
            " · " + (s.staff ? d.msgStaff : d.msgVisitor) + (s.scans > 1 ? " ×" + s.scans : "")));
          li.appendChild(left);
          if (!s.admitted) {
            var refused = document.createElement("small"); refused.textContent = d.msgRefusedShort;
            li.appendChild(refused);
          } else if (s.open) {
            var btn = document.createElement("button");
            btn.type = "button"; btn.className = "btn btn-sm btn-outline-secondary"; btn.textContent = d.msgCheckout;
            btn.addEventListener("click", function () {
              fetch(d.checkoutUrl.replace(/0$/, String(s.id)), { method: "POST", credentials: "same-origin",
                headers: { "X-CSRFToken": csrf, "Accept": "application/json" } }).then(loadRecent);
            });
            li.appendChild(btn);
          } else {
            var out = document.createElement("small"); out.textContent = d.msgOut; li.appendChild(out);
          }
          recentList.appendChild(li);
        });
      }, function () { /* the list refreshes on the next scan */ });
  }
  loadRecent();
  focusInput();
})();
