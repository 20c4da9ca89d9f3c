// Small progressive enhancements; every page works without JavaScript.
document.addEventListener("click", (event) => {
  const toggle = event.target.closest("[data-toggle-nav]");
  if (toggle) {
    const nav = document.getElementById(toggle.getAttribute("aria-controls"));
    const open = nav.classList.toggle("open");
    toggle.setAttribute("aria-expanded", String(open));
  }
});
// Let htmx swap 4xx responses (form errors) into the page instead of ignoring them.
document.addEventListener("htmx:beforeSwap", (event) => {
  if (event.detail.xhr.status === 400) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
// Row selection: a box with data-select-all="<name>" ticks every box of that name in its
// form (boxes may join the form with form="…"), and an element with
// data-selected-count="<name>" says how many are ticked (its data-none / data-some texts).
function checkboxesNamed(form, name) {
  return [...form.elements].filter((el) => el.type === "checkbox" && el.name === name);
}
function syncSelection(form, name) {
  const boxes = checkboxesNamed(form, name);
  const ticked = boxes.filter((box) => box.checked).length;
  for (const all of [...form.elements].filter((el) => el.dataset.selectAll === name)) {
    all.checked = boxes.length > 0 && ticked === boxes.length;
    all.indeterminate = ticked > 0 && ticked < boxes.length;
  }
  for (const count of form.querySelectorAll(`[data-selected-count="${name}"]`)) {
    count.textContent = ticked ? count.dataset.some.replace("{n}", ticked) : count.dataset.none;
  }
}
document.addEventListener("change", (event) => {
  const box = event.target;
  if (!(box instanceof HTMLInputElement) || box.type !== "checkbox" || !box.form) return;
  const name = box.dataset.selectAll;
  if (name) {
    for (const other of checkboxesNamed(box.form, name)) other.checked = box.checked;
    syncSelection(box.form, name);
  } else if (box.form.querySelector(`[data-selected-count="${box.name}"]`)) {
    syncSelection(box.form, box.name);
  }
});
function syncAllSelections() {
  for (const count of document.querySelectorAll("[data-selected-count]")) {
    if (count.closest("form")) syncSelection(count.closest("form"), count.dataset.selectedCount);
  }
}
document.addEventListener("DOMContentLoaded", syncAllSelections);
document.addEventListener("htmx:afterSettle", syncAllSelections);
