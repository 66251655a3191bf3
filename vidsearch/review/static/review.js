// The review page: search, the hit list with the reasons behind each score, and for a
// hit both videos side by side with the matched segments on their progress bars.
// Plain DOM, no library; text from the server only ever goes through textContent.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { query: null, result: null, hit: null, text: false };
const players = {
  query: { video: $("query-video"), bar: $("query-bar"), marks: $("query-marks"),
           clock: $("query-clock"), pane: $("query-pane"), duration: 0 },
  reference: { video: $("reference-video"), bar: $("reference-bar"), marks: $("reference-marks"),
               clock: $("reference-clock"), pane: $("reference-pane"), duration: 0 },
};

// -- talking to the front end ----------------------------------------------------------
$("token").value = sessionStorage.getItem("vidsearch-token") || "";
$("token").addEventListener("change", () => {
  sessionStorage.setItem("vidsearch-token", $("token").value.trim());
  loadStats();
});

async function api(path, init = {}) {
  const headers = new Headers(init.headers || {});
  const token = $("token").value.trim();
  if (token) headers.set("Authorization", `Bearer ${token}`);
  const response = await fetch(path, { ...init, headers });
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  if (!response.ok) {
    let message = (body && body.error) || `request failed (HTTP ${response.status})`;
    if (response.status === 401) message += " — paste a bearer token at the top right";
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return body;
}

function say(text, isError = false) {
  $("message").textContent = text;
  $("message").className = isError ? "error" : "";
}

async function loadVideos() {
  try {
    const { videos, more } = await api("/api/videos");
    const list = $("indexed-videos");
    list.replaceChildren(...videos.map((v) => {
      const option = document.createElement("option");
      option.value = v.video_id;
      option.label = v.title && v.title !== v.video_id ? v.title : "";
      return option;
    }));
    $("video-id").placeholder = `choose one of ${videos.length}${more ? "+" : ""} indexed videos, or type an id`;
  } catch (_) {
    /* the stats line already says what is wrong (e.g. a token is needed) */
  }
}

async function loadStats() {
  loadVideos();
  try {
    const s = await api("/api/stats");
    $("stats").textContent = `${s.videos} videos indexed` +
      (s.text_search ? " · text search on" : " · text search off");
  } catch (error) {
    $("stats").textContent = error.message;
  }
}

function searchParams() {
  const params = new URLSearchParams();
  if ($("mode").value) params.set("mode", $("mode").value);
  if ($("top-k").value) params.set("top_k", $("top-k").value);
  return params.toString();
}

async function run(label, work) {
  say(`${label}…`);
  document.body.dataset.busy = "1";
  try {
    await work();
  } catch (error) {
    say(error.message, true);
  } finally {
    delete document.body.dataset.busy;
  }
}

$("upload-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const file = $("clip").files[0];
  if (!file) return;
  run(`Uploading and searching ${file.name}`, async () => {
    const result = await api(`/api/search/upload?${searchParams()}`, {
      method: "POST", body: file,
      headers: { "Content-Type": file.type || "application/octet-stream" },
    });
    result.query.name = file.name;
    showResult(result, false);
  });
});

function searchIndexed(videoId) {
  run(`Searching with ${videoId}`, async () => {
    const result = await api(
      `/api/search/indexed/${encodeURIComponent(videoId)}?${searchParams()}`, { method: "POST" });
    result.query.name = videoId;
    showResult(result, false);
  });
}

$("indexed-form").addEventListener("submit", (event) => {
  event.preventDefault();
  searchIndexed($("video-id").value.trim());
});

$("text-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("text").value.trim();
  run(`Searching for “${text}”`, async () => {
    const topK = parseInt($("top-k").value, 10);
    const result = await api("/api/search/text", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(Number.isFinite(topK) ? { text, top_k: topK } : { text }),
    });
    result.query = null;
    showResult(result, true);
  });
});

// -- the hit list -------------------------------------------------------------------------
function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const child of children) node.append(child);
  return node;
}

const seconds = (s) => `${s.toFixed(2)} s`;

function showResult(result, isText) {
  state.result = result; state.text = isText; state.query = result.query;
  const hits = $("hits");
  hits.replaceChildren();
  $("results").hidden = false;
  $("results-title").textContent = isText ? "Videos matching the text" :
    `Matches (${result.mode || "default"} mode, query ${seconds(result.query_duration_s)})`;
  $("keywords").textContent = result.keywords && result.keywords.length ?
    `keywords: ${result.keywords.join(", ")}` : "";
  result.hits.forEach((hit, rank) => {
    const item = el("li", { className: "hit" });
    item.dataset.videoId = hit.video.video_id;
    const review = el("button", { type: "button", className: "review", textContent: "Review" });
    review.addEventListener("click", () => openReview(rank));
    const again = el("button", { type: "button", className: "search-with",
                                 textContent: "Search with this video" });
    again.addEventListener("click", () => searchIndexed(hit.video.video_id));
    item.append(el("div", { className: "hit-head" }, [
      el("span", { className: "hit-id", textContent: hit.video.video_id }),
      el("span", { className: "muted", textContent: hit.video.title }),
      el("span", { className: "hit-score", textContent: `score ${hit.score.toFixed(3)}` }),
      review, again,
    ]));
    if (hit.video.tags.length) item.append(tagLine(hit.video.tags));
    item.append(el("ul", { className: "reasons" },
                   hit.reasons.map((r) => el("li", { textContent: r }))));
    hits.append(item);
  });
  say(result.hits.length ? `${result.hits.length} match(es); choose one to review` :
      "No match: nothing indexed is similar enough.");
  if (result.hits.length) openReview(0);
}

function tagLine(tags) {
  return el("div", { className: "tags" }, tags.map((t) => el("span", { className: "tag",
                                                                   textContent: t })));
}

// -- the review: two players and their progress bars ---------------------------------------
async function openReview(rank) {
  const hit = state.result.hits[rank];
  state.hit = hit;
  document.querySelectorAll("#hits > li").forEach((li, i) => li.classList.toggle("current", i === rank));
  $("review").hidden = false;
  $("review-title").textContent = `Review: ${hit.video.video_id}`;
  $("reference-name").textContent = `${hit.video.video_id} ${hit.video.title}`;
  $("tags").replaceChildren(...(hit.video.tags.length ? ["tags: ", tagLine(hit.video.tags)] : []));
  const query = state.query;
  players.query.pane.hidden = !query;
  if (query) {
    $("query-name").textContent = query.name || "";
    load(players.query, query.url, query.duration_s);
  }
  players.reference.duration = hit.video.duration_s;
  drawSegments();
  try {
    const clip = await api(`/api/play/${encodeURIComponent(hit.video.video_id)}`, { method: "POST" });
    if (state.hit === hit) load(players.reference, clip.url, hit.video.duration_s);
  } catch (error) {
    if (state.hit === hit) unplayable(players.reference, error.message);
  }
}

function load(player, url, duration) {
  player.duration = duration;
  player.pane.querySelector(".unplayable").hidden = true;
  player.video.hidden = false;
  player.video.src = url;
  player.video.load();
  paint(player);
}

function unplayable(player, why) {
  const note = player.pane.querySelector(".unplayable");
  note.textContent = `Cannot play this video here: ${why}`;
  note.hidden = false;
  player.video.removeAttribute("src");
  player.video.load();
  player.video.hidden = true;
}

// Positions use the API's durations, so the grey segments sit where the API says.
const fraction = (t, duration) => (duration > 0 ? Math.min(Math.max(t / duration, 0), 1) : 0);

function drawSegments() {
  const segments = (state.hit && state.query) ? state.hit.segments : [];
  for (const side of ["query", "reference"]) {
    const player = players[side];
    player.bar.querySelectorAll(".segment").forEach((n) => n.remove());
    player.marks.replaceChildren();
    segments.forEach((segment, index) => {
      const start = segment[`${side}_start_s`], end = segment[`${side}_end_s`];
      const block = el("div", { className: "segment", title: `segment ${index + 1}` });
      block.dataset.index = index;
      block.dataset.start = start; block.dataset.end = end;
      block.style.left = `${100 * fraction(start, player.duration)}%`;
      block.style.width = `${100 * (fraction(end, player.duration) - fraction(start, player.duration))}%`;
      player.bar.append(block);
      for (const edge of ["start", "end"]) {
        const at = edge === "start" ? start : end;
        const mark = el("button", { type: "button", className: `mark ${edge}`,
                                    title: `segment ${index + 1} ${edge}: ${seconds(at)}` });
        mark.dataset.index = index; mark.dataset.edge = edge;
        mark.style.left = `${100 * fraction(at, player.duration)}%`;
        mark.addEventListener("click", () => jump(index, edge));
        player.marks.append(mark);
      }
    });
  }
  const rows = segments.map((s, i) => {
    const row = el("tr", {}, [
      el("td", { textContent: String(i + 1) }),
      el("td", { textContent: `${seconds(s.query_start_s)} – ${seconds(s.query_end_s)}` }),
      el("td", { textContent: `${seconds(s.reference_start_s)} – ${seconds(s.reference_end_s)}` }),
      el("td", { textContent: s.score.toFixed(2) }),
    ]);
    row.addEventListener("click", () => jump(i, "start"));
    return row;
  });
  $("segments").tBodies[0].replaceChildren(...rows);
  $("segments").hidden = rows.length === 0;
}

// A mark seeks BOTH players to the aligned times of that segment's start or end.
function jump(index, edge) {
  const segment = state.hit.segments[index];
  seek(players.query, segment[`query_${edge}_s`]);
  seek(players.reference, segment[`reference_${edge}_s`]);
}

function seek(player, time) {
  if (!player.video.hidden && player.video.getAttribute("src")) player.video.currentTime = time;
  paint(player);
}

function paint(player) {
  const t = player.video.hidden ? 0 : player.video.currentTime || 0;
  const at = `${100 * fraction(t, player.duration)}%`;
  player.bar.querySelector(".played").style.width = at;
  player.bar.querySelector(".head").style.left = at;
  player.clock.textContent = `${seconds(t)} / ${seconds(player.duration)}`;
}

for (const player of Object.values(players)) {
  for (const event of ["timeupdate", "seeked", "loadedmetadata", "ended"]) {
    player.video.addEventListener(event, () => paint(player));
  }
  player.video.addEventListener("error", () => {
    if (player.video.getAttribute("src")) {
      unplayable(player, "this browser cannot decode the file's format");
    }
  });
  player.bar.addEventListener("click", (event) => {
    if (event.target.classList.contains("mark")) return;
    const box = player.bar.getBoundingClientRect();
    seek(player, player.duration * (event.clientX - box.left) / box.width);
  });
}

function animate() {
  for (const player of Object.values(players)) if (!player.video.paused) paint(player);
  requestAnimationFrame(animate);
}
requestAnimationFrame(animate);

$("play-both").addEventListener("click", () => {
  for (const player of Object.values(players)) {
    if (!player.video.hidden && player.video.getAttribute("src")) player.video.play().catch(() => {});
  }
});
$("pause-both").addEventListener("click", () => {
  for (const player of Object.values(players)) player.video.pause();
});

loadStats();
