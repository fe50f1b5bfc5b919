// Small dashboard behaviours: confirm before removing, and follow a reindex until the entry is live.
(function () {
  "use strict";
  document.querySelectorAll("form.confirm").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
  var status = document.querySelector("[data-index-busy]");
  if (status && status.dataset.indexBusy === "true") {
    var tries = Number(sessionStorage.getItem("tt-reindex-tries") || 0);
    if (tries < 30) {
      sessionStorage.setItem("tt-reindex-tries", String(tries + 1));
      setTimeout(function () { window.location.reload(); }, 700);
    }
  } else {
    sessionStorage.removeItem("tt-reindex-tries");
  }
})();
