// The inpainting page: all work is on the server (webpage/webapp.py); this draws and sends.
"use strict";
const VIEW = 320;
const state = { session: null, size: 0, groups: {}, models: [], points: null, base: null, estimated: null,
                faceImage: null, hasFace: false, dragging: null, painting: false, polling: null };
window.appState = state;  // read by the browser test
const $ = (id) => document.getElementById(id);
const canvas = $("canvas"), ctx = canvas.getContext("2d");
const maskCanvas = document.createElement("canvas");  // white = known, black = hole, at VIEW size
maskCanvas.width = maskCanvas.height = VIEW;
const maskCtx = maskCanvas.getContext("2d");

function say(text) { $("message").textContent = text || ""; }

async function call(route, body) {
  const answer = await fetch("/api/" + route, { method: "POST", headers: { "Content-Type": "application/json" },
                                               body: JSON.stringify({ session: state.session, ...body }) });
  const data = await answer.json();
  if (!answer.ok) { say(data.error); throw new Error(data.error); }
  say("");
  return data;
}

function clearMask() {
  maskCtx.fillStyle = "white";
  maskCtx.fillRect(0, 0, VIEW, VIEW);
}

function scale() { return VIEW / state.size; }

function draw() {
  ctx.imageSmoothingEnabled = true;  // the face drawn large and smooth, not in blocks of its pixels
  ctx.imageSmoothingQuality = "high";
  ctx.clearRect(0, 0, VIEW, VIEW);
  if (state.faceImage) ctx.drawImage(state.faceImage, 0, 0, VIEW, VIEW);
  const mask = maskCtx.getImageData(0, 0, VIEW, VIEW);
  const overlay = ctx.getImageData(0, 0, VIEW, VIEW);
  for (let i = 0; i < mask.data.length; i += 4) {
    if (mask.data[i] < 128) { overlay.data[i] = overlay.data[i + 1] = overlay.data[i + 2] = 128; }
  }
  ctx.putImageData(overlay, 0, 0);
  if (!state.points) return;
  const s = scale();
  for (const [i, [x, y]] of state.points.entries()) {
    ctx.fillStyle = state.estimated && state.estimated[i] ? "#ff9000" : "#00e000";  // estimated: orange
    ctx.beginPath();
    ctx.arc((x + 0.5) * s, (y + 0.5) * s, 3, 0, 2 * Math.PI);
    ctx.fill();
  }
}

function showView(view) {
  state.points = view.points;
  state.base = view.base;
  state.estimated = view.estimated;
  $("damaged").checked = view.damaged;
  if (view.note) say(view.note);
  $("smile").value = view.expression.smile;
  $("opening").value = view.expression.opening;
  $("eyes").value = view.expression.eyes;
  $("map").src = view.map;
  const image = new Image();
  image.onload = () => { state.faceImage = image; state.hasFace = true; draw(); };
  image.src = view.face;
}

async function loadFace() {
  clearMask();
  showView(await call("face", { index: Number($("face-select").value) }));
}

async function upload(file) {
  const data = await new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
  clearMask();
  showView(await call("upload", { name: file.name, data }));
}

function pointer(event) {
  const box = canvas.getBoundingClientRect();
  return [(event.clientX - box.left) * VIEW / box.width, (event.clientY - box.top) * VIEW / box.height];
}

function tool() { return document.querySelector("input[name=tool]:checked").value; }

function paint(x, y) {
  maskCtx.fillStyle = tool() === "eraser" ? "white" : "black";
  maskCtx.beginPath();
  maskCtx.arc(x, y, Number($("brush-size").value) / 2, 0, 2 * Math.PI);
  maskCtx.fill();
  draw();
}

function nearestPoint(x, y) {
  const s = scale();
  let best = null, bestDistance = 12;
  state.points.forEach(([px, py], i) => {
    const d = Math.hypot((px + 0.5) * s - x, (py + 0.5) * s - y);
    if (d < bestDistance) { best = i; bestDistance = d; }
  });
  return best;
}

function groupOf(index) {
  if (!$("group").checked) return [index];
  for (const members of Object.values(state.groups)) if (members.includes(index)) return members;
  return [index];
}

canvas.addEventListener("pointerdown", (event) => {
  if (!state.hasFace) return say("pick a face or upload a photo first");
  const [x, y] = pointer(event);
  canvas.setPointerCapture(event.pointerId);
  if (tool() === "landmarks") {
    const index = nearestPoint(x, y);
    if (index !== null) state.dragging = { members: groupOf(index), last: [x, y] };
  } else {
    state.painting = true;
    paint(x, y);
  }
});

canvas.addEventListener("pointermove", (event) => {
  const [x, y] = pointer(event);
  if (state.painting) paint(x, y);
  if (state.dragging) {
    const s = scale(), dx = (x - state.dragging.last[0]) / s, dy = (y - state.dragging.last[1]) / s;
    for (const i of state.dragging.members) {
      state.points[i] = [state.points[i][0] + dx, state.points[i][1] + dy];
      state.base[i] = [state.base[i][0] + dx, state.base[i][1] + dy];
    }
    state.dragging.last = [x, y];
    draw();
  }
});

canvas.addEventListener("pointerup", async () => {
  if (state.painting) {
    state.painting = false;
    // The server's mask is the one painted (downloads see it); a damaged photo's landmarks follow it.
    const answer = await call("paint", { mask: maskPng() });
    if (answer.points) showView(answer);
  }
  if (state.dragging) {
    state.dragging = null;
    showView(await call("keypoints", { base: state.base }));
  }
});

function showMask(src) {
  const image = new Image();
  image.onload = () => { maskCtx.imageSmoothingEnabled = false; maskCtx.drawImage(image, 0, 0, VIEW, VIEW); draw(); };
  image.src = src;
}

async function sendExpression() {
  if (!state.hasFace) return;
  showView(await call("keypoints", { expression: { smile: $("smile").value, opening: $("opening").value,
                                                   eyes: $("eyes").value } }));
}

function maskPng() {
  const small = document.createElement("canvas");
  small.width = small.height = state.size;
  const c = small.getContext("2d");
  c.imageSmoothingEnabled = false;
  c.drawImage(maskCanvas, 0, 0, state.size, state.size);
  return small.toDataURL("image/png");
}

function figure(src, caption) {
  return src ? `<figure><img class="small" alt="${caption}" src="${src}"><figcaption>${caption}</figcaption></figure>` : "";
}

function resultHtml(name, r) {
  const losses = r.loss === undefined ? "" :
    `step ${r.step}: loss ${r.loss.toFixed(1)} (context ${r.context.toFixed(1)}, prior ${r.prior.toFixed(2)})`;
  const psnr = r.psnr_after === undefined ? "" :
    `<div>PSNR against the face: ${r.psnr_before.toFixed(2)} dB before blending, ${r.psnr_after.toFixed(2)} after</div>`;
  const photo = r.photo ? `<figure><img class="photo" alt="the whole photo, the fill pasted back" ` +
    `src="${r.photo}"><figcaption>the whole photo, the fill pasted back</figcaption></figure>` : "";
  return `<div class="result"><div><b>${name}</b>: ${r.status}</div>${figure(r.generated, "G(z)")}` +
    `${figure(r.fill, "fill, before blending")}${figure(r.blended, "after Poisson blending")}` +
    `<div>${losses}</div>${psnr}${photo}</div>`;
}

async function poll() {
  const p = await call("progress", {});
  if (!p.models) return;
  $("results").innerHTML = Object.entries(p.models).map(([name, r]) => resultHtml(name, r)).join("");
  const first = Object.values(p.models)[0];
  $("status").textContent = p.error ? p.error : (p.done ? "done" : `running: step ${first.step} of ${p.steps}`);
  if (p.error) say(p.error);
  if (p.done) {
    clearInterval(state.polling);
    state.polling = null;
    $("run").disabled = $("reseed").disabled = false;
    $("stop").disabled = true;
  }
}

async function run() {
  if (!state.hasFace) return say("pick a face or upload a photo first");
  await call("run", { mask: maskPng(), steps: Number($("steps").value), every: Number($("every").value),
                      seed: Number($("seed").value) });
  $("status").textContent = "started";
  $("run").disabled = $("reseed").disabled = true;
  $("stop").disabled = false;
  state.polling = setInterval(() => poll().catch(() => {}), 250);
}

function download(what) {
  return (event) => {
    event.preventDefault();
    const url = `/api/download?session=${state.session}&what=${what}`;
    fetch(url).then(async (answer) => {
      if (!answer.ok) return say((await answer.json()).error);
      window.location.href = url;
    });
  };
}

async function start() {
  const info = await call("session", {});
  Object.assign(state, { session: info.session, size: info.size, groups: info.groups, models: info.models });
  info.faces.forEach((name, i) => $("face-select").add(new Option(name, i)));
  for (const m of info.masks.filter((m) => m !== "full")) $("mask-type").add(new Option(m, m));
  $("steps").max = info.max_steps;
  clearMask();
  draw();
  $("load-face").onclick = () => loadFace().catch(() => {});
  $("upload").onchange = (e) => e.target.files[0] && upload(e.target.files[0]).catch(() => {});
  $("apply-mask").onclick = async () => {
    if (!state.hasFace) return say("pick a face or upload a photo first");
    const answer = await call("mask", { type: $("mask-type").value, seed: Number($("seed").value) });
    showMask(answer.mask);
    showView(answer);
  };
  $("clear-mask").onclick = () => {
    clearMask();
    draw();
    call("paint", { mask: maskPng() }).then((answer) => answer.points && showView(answer)).catch(() => {});
  };
  $("damaged").onchange = async () => {
    if (!state.hasFace) return say("pick a face or upload a photo first");
    try {
      const answer = await call("damaged", { damaged: $("damaged").checked });
      showMask(answer.mask);
      showView(answer);
    } catch (error) { $("damaged").checked = false; }
  };
  for (const id of ["smile", "opening", "eyes"]) $(id).onchange = () => sendExpression().catch(() => {});
  $("reset-points").onclick = () => state.hasFace && call("keypoints", { reset: true }).then(showView).catch(() => {});
  $("run").onclick = () => run().catch(() => {});
  $("stop").onclick = () => call("stop", {}).catch(() => {});
  $("reseed").onclick = () => { $("seed").value = Number($("seed").value) + 1; run().catch(() => {}); };
  for (const what of ["inpainted", "photo", "mask", "map", "settings"]) $(`download-${what}`).onclick = download(what);
  // The tab is closing: the server forgets its session and stops its search.
  window.addEventListener("pagehide", () => fetch("/api/close", {
    method: "POST", keepalive: true, headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ session: state.session }) }).catch(() => {}));
  $("status").textContent = "ready";
}

start().catch((error) => say(String(error)));
