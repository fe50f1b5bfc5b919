// Small dashboard behaviours: confirm before removing, and follow a reindex until the entry is live.
(function () {
  "use strict";
  document.querySelectorAll("form.confirm").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
  var status = document.querySelector("[data-index-busy]");
  var busy = status && status.dataset.indexBusy === "true";
  // An entry saved by another process reaches this one's index within its poll interval: follow that too.
  if (busy || document.querySelector('[data-waiting="true"]')) {
    var tries = Number(sessionStorage.getItem("tt-reindex-tries") || 0);
    if (tries < 30) {
      sessionStorage.setItem("tt-reindex-tries", String(tries + 1));
      setTimeout(function () { window.location.reload(); }, 700);
    }
  } else {
    sessionStorage.removeItem("tt-reindex-tries");
  }
})();

// Demo jobs: follow each unfinished job (a row of the jobs page, or the details page) over its SSE stream.
(function () {
  "use strict";
  if (!window.EventSource) return;
  document.querySelectorAll('[data-job][data-active="true"]').forEach(function (el) {
    var id = el.dataset.job;
    var bar = el.querySelector("progress");
    var status = el.querySelector(".status");
    var stage = el.querySelector(".stage");
    var source = new EventSource("/dashboard/jobs/" + encodeURIComponent(id) + "/events");
    function show(data) {
      if (bar && typeof data.progress === "number" && data.progress >= Number(bar.value)) bar.value = data.progress;
      if (status && data.status) status.textContent = data.status;
      if (stage && data.stage !== undefined) stage.textContent = data.stage || "";
    }
    source.addEventListener("progress", function (event) { show(JSON.parse(event.data)); });
    source.addEventListener("result", function (event) {
      var data = JSON.parse(event.data);
      source.close();
      data.stage = data.error || "";
      data.progress = 1;
      show(data);
      el.dataset.active = "false";
      el.querySelectorAll("form[data-cancel]").forEach(function (form) { form.remove(); });
      // The finished page renders the result's markdown, plots and metric charts on the server: fetch it.
      if (el.querySelector(".job-result")) window.location.reload();
    });
    source.addEventListener("error", function () { if (source.readyState === EventSource.CLOSED) return; });
  });
})();
