// The process studio's modeler: bpmn-js's Modeler on the process's draft. Every change is saved to
// the draft a moment later and checked on the server with the engine's own deploy checks (the marks
// on the diagram are a convenience; the server checks again at deploy). Each save names the draft
// revision it started from, so a stale tab cannot overwrite a newer draft. Bundled by
// esbuild (`make static`) into portal/static/vendor/studio-modeler.{js,css}; loaded by the studio's
// edit page only. Every text shown here comes translated from the page (#studio-config): the
// studio's own messages, and bpmn-js's through the `translate` override (./i18n.js). Beside the
// canvas: the Caseflow properties panel (./caseflow-properties.js) and bpmnlint's suggestions (./lint.js).
import Modeler from "bpmn-js/lib/Modeler";
import { BpmnPropertiesPanelModule } from "bpmn-js-properties-panel";
import lintModule from "bpmn-js-bpmnlint";
import "bpmn-js/dist/assets/diagram-js.css";
import "bpmn-js/dist/assets/bpmn-js.css";
import "bpmn-js/dist/assets/bpmn-font/css/bpmn.css";
import "@bpmn-io/properties-panel/dist/assets/properties-panel.css";
import "bpmn-js-bpmnlint/dist/assets/css/bpmn-js-bpmnlint.css";

import { caseflowPropertiesModule } from "./caseflow-properties";
import { translateModule } from "./i18n";
import lintConfig from "./lint";
import spiffModdle from "./spiff-moddle";

const PROBLEM = "cf-problem";
const OPEN_GROUPS = ["cf-general", "cf-role", "cf-form", "cf-sla", "cf-routing", "cf-review", "cf-timer", "cf-condition", "cf-service", "cf-parameters"];
const WARNING = "cf-warning";

function format(text, values) {
  return text.replace(/%\((\w+)\)s/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

function start() {
  const box = document.getElementById("modeler");
  const configNode = document.getElementById("studio-config");
  if (!box || !configNode) {
    return;
  }
  const config = JSON.parse(configNode.textContent);
  const t = config.messages;
  const status = document.getElementById("studio-status");
  const section = document.getElementById("studio-problems");
  const list = section.querySelector("ol");
  const warningSection = document.getElementById("studio-warnings");
  const warningList = warningSection.querySelector("ol");
  const buttons = [document.getElementById("studio-check"), document.getElementById("studio-deploy")];
  const modeler = new Modeler({
    container: box,
    // Caseflow's groups start open: an admin should not have to hunt for a task's deadline.
    propertiesPanel: { parent: "#studio-properties", layout: { groups: Object.fromEntries(OPEN_GROUPS.map((id) => [id, { open: true }])) } },
    linting: { bpmnlint: lintConfig, active: true },
    moddleExtensions: { spiffworkflow: spiffModdle },
    additionalModules: [BpmnPropertiesPanelModule, caseflowPropertiesModule(config.panel), translateModule(config.panel.translations), lintModule],
  });
  const canvas = modeler.get("canvas");
  const registry = modeler.get("elementRegistry");
  let marked = [];
  let changed = false;
  let revision = config.revision;
  let stale = false;
  let timer = null;
  let saving = null;

  function say(text, kind) {
    status.textContent = text;
    status.dataset.kind = kind || "";
  }

  function busy(on) {
    buttons.forEach((b) => { b.disabled = on; });
  }

  function clearProblems() {
    marked.forEach(([id, marker]) => { if (registry.get(id)) { canvas.removeMarker(id, marker); } });
    marked = [];
    list.textContent = "";
    warningList.textContent = "";
    section.hidden = true;
    warningSection.hidden = true;
  }

  // Problems refuse the diagram; warnings say what a deploy decided for the admin (ADR 0015).
  function fill(target, items, marker) {
    items.forEach((problem) => {
      const item = document.createElement("li");
      const element = problem.element ? registry.get(problem.element) : null;
      const label = document.createElement(element ? "button" : "span");
      label.className = "studio-element";
      if (element) {
        label.type = "button";
        const name = element.businessObject && element.businessObject.name;
        label.textContent = name ? `${name} (${problem.element})` : problem.element;
        label.addEventListener("click", () => {
          modeler.get("selection").select(element);
          canvas.scrollToElement(element);
        });
        canvas.addMarker(problem.element, marker);
        marked.push([problem.element, marker]);
      } else {
        label.textContent = problem.element ? `${problem.element} ${t.notOnCanvas}` : t.wholeFile;
      }
      item.dataset.element = problem.element || "";
      item.append(label, document.createTextNode(" "), document.createTextNode(problem.message));
      target.append(item);
    });
  }

  function showProblems(problems, warnings) {
    clearProblems();
    fill(list, problems, PROBLEM);
    fill(warningList, warnings || [], WARNING);
    section.hidden = problems.length === 0;
    warningSection.hidden = !warnings || warnings.length === 0;
  }

  async function send(url) {
    const { xml } = await modeler.saveXML({ format: true });
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/xml; charset=utf-8", "X-CSRFToken": config.csrf, Accept: "application/json",
        "X-Caseflow-Revision": String(revision),
      },
      body: xml,
    });
    let answer;
    try {
      answer = await response.json();
    } catch (err) {
      throw new Error(`HTTP ${response.status}`);
    }
    if (!Array.isArray(answer.problems) && !answer.ok) {
      throw new Error(`HTTP ${response.status}`);
    }
    if (answer.stale) {
      stale = true;
      busy(true);
      buttons[0].disabled = true;
    } else if (typeof answer.revision === "number") {
      revision = answer.revision;
      box.dataset.revision = String(revision);
    }
    return answer;
  }

  function problemsText(one, many, problems) {
    return problems.length === 1 ? one : format(many, { count: problems.length });
  }

  async function check() {
    if (stale) {
      return;
    }
    window.clearTimeout(timer);
    busy(true);
    say(t.saving);
    try {
      changed = false;
      const answer = await send(config.saveUrl);
      showProblems(answer.problems || [], answer.warnings);
      box.dataset.checked = String(revision);
      if (answer.stale) {
        changed = true;
        say(t.stale, "error");
      } else if (answer.ok) {
        say(answer.warnings && answer.warnings.length ? format(t.noProblemsWarnings, { count: answer.warnings.length }) : t.noProblems, "ok");
      } else {
        say(problemsText(t.problem, t.problems, answer.problems), "error");
      }
    } catch (err) {
      changed = true;
      say(format(t.failed, { error: err.message }), "error");
    } finally {
      busy(stale);
    }
  }

  // One save a moment after the last change (a drag makes many), never two at once.
  function saveSoon() {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => {
      saving = (saving || Promise.resolve()).then(check);
    }, 1200);
  }

  async function deploy() {
    if (stale || !window.confirm(t.confirmDeploy)) {
      return;
    }
    window.clearTimeout(timer);
    await saving;
    busy(true);
    say(t.deploying);
    try {
      const answer = await send(config.deployUrl);
      showProblems(answer.problems || [], answer.warnings);
      if (answer.stale) {
        say(t.stale, "error");
      } else if (answer.ok) {
        changed = false;
        say(format(answer.created ? t.deployed : t.unchanged, { version: answer.version }), "ok");
        const link = document.createElement("a");
        link.href = answer.url;
        link.textContent = t.openVersion;
        link.dataset.testid = "new-version";
        status.append(" ", link);
      } else {
        say(problemsText(t.refusedOne, t.refused, answer.problems), "error");
      }
    } catch (err) {
      say(format(t.failed, { error: err.message }), "error");
    } finally {
      busy(stale);
    }
  }

  buttons[0].addEventListener("click", check);
  buttons[1].addEventListener("click", deploy);
  modeler.on("commandStack.changed", () => { changed = true; saveSoon(); });
  window.addEventListener("beforeunload", (event) => {
    if (changed) {
      event.preventDefault();
      event.returnValue = t.leave;
    }
  });

  say(t.loading);
  // The whole diagram in view, to the right of the palette (which would cover its start).
  function fit() {
    canvas.zoom("fit-viewport");
    const palette = box.querySelector(".djs-palette");
    const pad = palette ? palette.getBoundingClientRect().right - box.getBoundingClientRect().left + 16 : 16;
    const { inner, outer } = canvas.viewbox();
    if (!inner.width || !inner.height) {
      return;
    }
    const scale = Math.min((outer.width - pad - 16) / inner.width, (outer.height - 32) / inner.height, 1);
    canvas.viewbox({ x: inner.x - pad / scale, y: inner.y - 16 / scale, width: outer.width / scale, height: outer.height / scale });
  }

  modeler.importXML(config.xml).then(() => {
    fit();
    say("");
    busy(false);
    box.dataset.ready = "true";
    check();
  }).catch((err) => {
    box.dataset.ready = "error";
    say(format(t.unreadable, { error: err.message }), "error");
  });
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start);
} else {
  start();
}
