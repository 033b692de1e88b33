/* The local app's task pages: follow a running task (its steps and log) without reloading, and reload
   once it waits for an answer or has ended. Without scripts the page still works: reload it by hand. */
(function () {
  "use strict";
  var badge = document.getElementById("job-state");
  if (!badge || badge.getAttribute("data-active") !== "yes") return;
  var id = badge.getAttribute("data-job");
  var steps = document.getElementById("steps"), log = document.getElementById("log");
  function poll() {
    fetch("/jobs/" + encodeURIComponent(id) + "/state", {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (job) {
        if (job.state !== badge.textContent) {
          if (job.state !== "running" && job.state !== "queued") { window.location.reload(); return; }
          badge.textContent = job.state;
          badge.className = "badge " + job.state;
        }
        steps.textContent = "";
        job.steps.forEach(function (s) {
          var li = document.createElement("li");
          li.textContent = s.text;
          steps.appendChild(li);
        });
        var atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
        log.textContent = job.log.join("\n");
        if (atEnd) log.scrollTop = log.scrollHeight;
        window.setTimeout(poll, 700);
      })
      .catch(function () { window.setTimeout(poll, 2000); });
  }
  window.setTimeout(poll, 500);
})();
