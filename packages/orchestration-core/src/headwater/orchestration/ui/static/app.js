// headwater ui: a running run's page polls its state and reloads when a node finishes.
"use strict";
(function () {
  const run = document.querySelector(".run[data-state]");
  if (!run || run.dataset.state !== "RUNNING") return;
  const url = "/api/p/" + encodeURIComponent(run.dataset.pipeline) + "/runs/" +
    encodeURIComponent(run.dataset.run);
  const shown = JSON.parse(run.dataset.counts || "{}");
  function same(counts) {
    const keys = new Set(Object.keys(shown).concat(Object.keys(counts)));
    for (const key of keys) if (shown[key] !== counts[key]) return false;
    return true;
  }
  const live = run.querySelector(".live");
  let polls = 0;
  async function poll() {
    polls += 1;
    try {
      const response = await fetch(url, { cache: "no-store" });
      if (response.ok) {
        const body = await response.json();
        if (body.state !== "RUNNING" || !same(body.counts)) {
          window.location.reload();
          return;
        }
      }
      if (live) live.textContent = "running; checked " + polls + " times";
    } catch (err) {
      if (live) live.textContent = "cannot reach the server";
    }
    if (polls < 3600) window.setTimeout(poll, 2000);
  }
  window.setTimeout(poll, 2000);
})();
