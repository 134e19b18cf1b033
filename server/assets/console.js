// The console works without scripts; this only adds conveniences.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Ctrl+Enter (or Cmd+Enter) in the query box runs the query.
  const kql = document.getElementById("kql");
  if (kql) {
    kql.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        kql.form.requestSubmit();
      }
    });
  }
  // Choosing a type or category in the changes filter applies it.
  const filters = document.getElementById("change-filters");
  if (filters) {
    for (const select of filters.querySelectorAll("select")) {
      select.addEventListener("change", () => filters.requestSubmit());
    }
  }
});
