// bpmn-js's `translate` service, fed by the page: config.translations maps each English text of
// bpmn-js, diagram-js, the properties panel, bpmnlint and Caseflow's own panel to the admin's language
// (portal/studio/modeler_i18n.py, translated through Django's gettext). A text missing from the
// catalogue shows in English rather than not at all.
export function translateModule(catalogue) {
  function translate(template, replacements) {
    const text = (catalogue && catalogue[template]) || template;
    return text.replace(/{([^}]+)}/g, (whole, key) => (replacements && key in replacements ? String(replacements[key]) : whole));
  }
  return { translate: ["value", translate] };
}
