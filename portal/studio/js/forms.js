// The studio's form editor: form-js's editor on one step's form of a process's draft, restricted to the
// field types the portal renders, with Caseflow's own settings (English label, personal data, who may
// read the value, date limits...) in a box of their own, and beside it the portal's real page for the
// form — rendered on the server, in a 360-px frame — refreshed a moment after each change. Save sends
// the schema with the draft revision it started from; the server checks it and names each problem's
// field. Bundled by esbuild (`make static`) into portal/static/vendor/studio-forms.{js,css}; loaded by
// /studio/<key>/forms/<element>/ only. Every text comes translated from the page (#form-config).
import { FormEditor } from "@bpmn-io/form-js-editor";
import "@bpmn-io/form-js-viewer/dist/assets/form-js.css";
import "@bpmn-io/form-js-editor/dist/assets/form-js-editor.css";
import "@bpmn-io/form-js-editor/dist/assets/properties-panel.css";

const PREVIEW_DELAY_MS = 400;
// form-js's groups the portal has no use for: conditions and layout are ignored by the server,
// adornments and iframe security are not rendered, serialisation is fixed, and `properties` is edited
// field by field in the Caseflow box rather than as raw pairs.
const DROPPED_GROUPS = new Set(["condition", "layout", "appearance", "securityAttributes", "serialization", "custom"]);
const CHOICE_TYPES = new Set(["select", "radio", "checklist"]);

function format(text, values) {
  return text.replace(/%\((\w+)\)s/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

function element(tag, attributes, children) {
  const node = document.createElement(tag);
  Object.entries(attributes || {}).forEach(([name, value]) => {
    if (value === true) {
      node.setAttribute(name, "");
    } else if (value !== false && value !== null && value !== undefined) {
      node.setAttribute(name, value);
    }
  });
  (children || []).forEach((child) => node.append(child));
  return node;
}

// Only the types the portal renders are offered, under Chinese (or English) names.
function paletteModule(config) {
  function CaseflowFields(formFields) {
    const allowed = new Set(config.types);
    Object.keys(formFields._formFields).forEach((type) => {
      if (type === "default") {
        return;
      }
      if (!allowed.has(type)) {
        delete formFields._formFields[type];
        return;
      }
      const field = formFields._formFields[type];
      if (config.typeNames[type] && field.config) {
        field.config = { ...field.config, name: config.typeNames[type], label: config.typeNames[type] };
      }
    });
  }
  CaseflowFields.$inject = ["formFields"];

  function CaseflowGroups(propertiesPanel) {
    propertiesPanel.registerProvider({
      getGroups: () => (groups) => groups.filter((group) => !DROPPED_GROUPS.has(group.id)),
    }, 500);
  }
  CaseflowGroups.$inject = ["propertiesPanel"];

  return {
    __init__: ["caseflowFields", "caseflowGroups"],
    caseflowFields: ["type", CaseflowFields],
    caseflowGroups: ["type", CaseflowGroups],
  };
}

// form-js 1.23 has no translation hook: the words people read most are swapped by exact match.
function translator(words) {
  function swap(root) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const text = node.data.trim();
      if (text && words[text] && node.data !== words[text]) {
        node.data = node.data.replace(text, words[text]);
      }
    }
    root.querySelectorAll("[placeholder], [title]").forEach((node) => {
      ["placeholder", "title"].forEach((name) => {
        const value = node.getAttribute(name);
        if (value && words[value]) {
          node.setAttribute(name, words[value]);
        }
      });
    });
  }
  return function watch(root) {
    let queued = false;
    swap(root);
    new MutationObserver(() => {
      if (!queued) {
        queued = true;
        requestAnimationFrame(() => { queued = false; swap(root); });
      }
    }).observe(root, { childList: true, subtree: true, characterData: true });
  };
}

// What the portal reads that form-js writes elsewhere: a date field's label, a list's key.
function forServer(schema) {
  (function walk(components) {
    (components || []).forEach((c) => {
      if (c.type === "datetime" && !c.label && (c.dateLabel || c.timeLabel)) {
        c.label = c.subtype === "time" ? c.timeLabel : (c.dateLabel || c.timeLabel);
      }
      if (c.type === "dynamiclist" && !c.key && c.path) {
        c.key = c.path;
      }
      walk(c.components);
    });
  }(schema.components));
  return schema;
}

function start() {
  const configNode = document.getElementById("form-config");
  const box = document.getElementById("form-editor");
  if (!configNode || !box) {
    return;
  }
  const config = JSON.parse(configNode.textContent);
  const t = config.messages;
  const status = document.getElementById("form-status");
  const saveButton = document.getElementById("form-save");
  const problemSection = document.getElementById("form-problems");
  const problemList = problemSection.querySelector("ol");
  const caseflowBox = document.getElementById("form-caseflow");
  const frame = document.getElementById("form-preview");
  const language = document.getElementById("preview-lang");
  const stepSwitch = document.getElementById("form-step");
  let revision = config.revision;
  let dirty = false;
  let stale = false;
  let previewTimer = null;
  let previewRequest = 0;

  const editor = new FormEditor({
    container: box,
    propertiesPanel: { parent: "#form-properties" },
    additionalModules: [paletteModule(config)],
  });
  const watch = translator(config.ui);

  function say(text, kind) {
    status.textContent = text;
    status.dataset.kind = kind || "";
  }

  function schemaNow() {
    return forServer(JSON.parse(JSON.stringify(editor.saveSchema())));
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", "X-CSRFToken": config.csrf },
    });
  }

  // -- the preview: the server's own rendering of the form ---------------------------------------
  async function refreshPreview() {
    const ticket = ++previewRequest;
    frame.parentNode.dataset.busy = "true";
    try {
      const response = await post(`${config.previewUrl}?lang=${encodeURIComponent(language.value)}`, { schema: schemaNow() });
      const html = await response.text();
      if (ticket === previewRequest) {
        frame.onload = showSelectedInPreview;
        frame.srcdoc = html;
      }
    } catch (error) {
      if (ticket === previewRequest) {
        frame.srcdoc = "";
        say(format(t.previewFailed, { error: error.message }), "error");
      }
    } finally {
      if (ticket === previewRequest) {
        frame.parentNode.dataset.busy = "false";
        frame.dataset.revision = String(ticket);
      }
    }
  }

  // The field being edited is scrolled into the preview's view (the frame shares the page's origin).
  function showSelectedInPreview() {
    const field = selected();
    const page = frame.contentDocument;
    const target = field && field.key && page ? page.querySelector(`[data-field="${CSS.escape(field.key)}"]`) : null;
    if (page) {
      page.querySelectorAll("[data-cf-selected]").forEach((node) => { node.removeAttribute("data-cf-selected"); node.style.outline = ""; });
    }
    if (target) {
      target.scrollIntoView({ block: "center" });
      target.setAttribute("data-cf-selected", "");
      target.style.outline = "2px dashed #0b6e4f";
    }
  }

  function schedulePreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(refreshPreview, PREVIEW_DELAY_MS);
  }

  // -- problems, each naming its field (a button selects it) --------------------------------------
  function showProblems(problems) {
    problemList.textContent = "";
    problems.forEach((problem) => {
      const item = element("li", { "data-key": problem.key || "" });
      const field = problem.field ? editor.get("formFieldRegistry").get(problem.field) : null;
      if (field) {
        const button = element("button", { type: "button", class: "studio-element" }, [problem.key || problem.field]);
        button.addEventListener("click", () => editor.get("selection").set(field));
        item.append(button, " ");
      }
      item.append(problem.message);
      problemList.append(item);
    });
    problemSection.hidden = problems.length === 0;
  }

  async function save() {
    if (stale) {
      say(t.stale, "error");
      return;
    }
    const body = JSON.stringify({ schema: schemaNow(), revision });
    if (body.length > config.maxBytes) {
      say(t.tooLarge, "error");
      return;
    }
    saveButton.disabled = true;
    say(t.saving);
    try {
      const response = await fetch(config.saveUrl, {
        method: "POST", credentials: "same-origin", body,
        headers: { "Content-Type": "application/json", "X-CSRFToken": config.csrf },
      });
      const answer = await response.json();
      if (answer.ok) {
        revision = answer.revision;
        dirty = false;
        showProblems([]);
        say(t.saved, "ok");
      } else {
        stale = Boolean(answer.stale);
        showProblems(answer.problems || []);
        say(stale ? t.stale : t.refused, "error");
      }
    } catch (error) {
      say(format(t.failed, { error: error.message }), "error");
    } finally {
      saveButton.disabled = stale;
    }
  }

  // -- the Caseflow box: settings kept in the field's `properties` --------------------------------
  function selected() {
    const field = editor.get("selection").get();
    return field && field.type && field.type !== "default" && config.types.includes(field.type) ? field : null;
  }

  function setProperty(field, name, value) {
    const properties = { ...(field.properties || {}) };
    if (value === "" || value === null || value === undefined) {
      delete properties[name];
    } else {
      properties[name] = value;
    }
    editor.get("modeling").editFormField(field, "properties", properties);
  }

  function textEntry(id, label, value, onChange, help, options) {
    const input = element("input", { id, class: "bio-properties-panel-input", type: "text", value: value || "", spellcheck: "false",
                                     list: options ? `${id}-list` : null, "data-caseflow": id });
    input.addEventListener("input", () => onChange(input.value.trim()));
    const children = [element("label", { for: id, class: "bio-properties-panel-label" }, [label]), input];
    if (options) {
      children.push(element("datalist", { id: `${id}-list` }, options.map((o) => element("option", { value: o }))));
    }
    if (help) {
      children.push(element("div", { class: "bio-properties-panel-description" }, [help]));
    }
    return element("div", { class: "bio-properties-panel-entry" }, children);
  }

  function checkEntry(id, label, checked, onChange, help) {
    const input = element("input", { id, type: "checkbox", class: "bio-properties-panel-input", checked: Boolean(checked), "data-caseflow": id });
    input.addEventListener("change", () => onChange(input.checked));
    const children = [element("div", { class: "bio-properties-panel-checkbox" }, [
      input, element("label", { for: id, class: "bio-properties-panel-label" }, [label])])];
    if (help) {
      children.push(element("div", { class: "bio-properties-panel-description" }, [help]));
    }
    return element("div", { class: "bio-properties-panel-entry" }, children);
  }

  function dateFieldKeys(except) {
    const keys = [];
    (function walk(components) {
      (components || []).forEach((c) => {
        if (c.type === "datetime" && c.key && c.key !== except) {
          keys.push(c.key);
        }
        walk(c.components);
      });
    }(editor.saveSchema().components));
    return keys;
  }

  function renderCaseflow() {
    const field = selected();
    caseflowBox.textContent = "";
    caseflowBox.hidden = !field;
    if (!field) {
      return;
    }
    const props = field.properties || {};
    const entries = [element("h2", {}, [t.caseflow])];
    const flag = (name) => (on) => setProperty(field, name, on ? "true" : "");
    if (field.type === "datetime") {
      entries.push(textEntry("cf-label", t.dateLabel, field.label, (v) => editor.get("modeling").editFormField(field, "label", v || undefined)));
    }
    entries.push(textEntry("cf-label-en", t.labelEn, props.label_en, (v) => setProperty(field, "label_en", v), t.labelEnHelp));
    if (config.fieldTypes.includes(field.type)) {
      entries.push(textEntry("cf-help-en", t.helpEn, props.help_en, (v) => setProperty(field, "help_en", v)));
      entries.push(checkEntry("cf-sensitive", t.sensitive, props.sensitive === "true", flag("sensitive")));
      entries.push(checkEntry("cf-process-variable", t.processVariable, props.process_variable === "true", flag("process_variable"), t.processVariableHelp));
      entries.push(checkEntry("cf-shown-on-return", t.shownOnReturn, props.shown_on_return === "true", flag("shown_on_return")));
    }
    if (field.type === "textfield") {
      // An ID or phone number is shown masked to people who may see the case but do not hold it.
      const mask = element("select", { id: "cf-mask", class: "bio-properties-panel-input", "data-caseflow": "cf-mask" },
        config.masks.map(([value, label]) => element("option", { value, selected: (props.mask || "") === value }, [label])));
      mask.addEventListener("change", () => setProperty(field, "mask", mask.value));
      entries.push(element("div", { class: "bio-properties-panel-entry" }, [
        element("label", { for: "cf-mask", class: "bio-properties-panel-label" }, [t.mask]), mask,
        element("div", { class: "bio-properties-panel-description" }, [t.maskHelp])]));
    }
    if (config.fieldTypes.includes(field.type)) {
      const chosen = new Set(String(props.visible_to || "").split(",").map((r) => r.trim()).filter(Boolean));
      const roles = config.roles.map(([code, name]) => checkEntry(`cf-role-${code}`, `${name} (${code})`, chosen.has(code), (on) => {
        if (on) { chosen.add(code); } else { chosen.delete(code); }
        setProperty(field, "visible_to", config.roles.map(([c]) => c).filter((c) => chosen.has(c)).join(","));
      }));
      entries.push(element("fieldset", { class: "cf-roles" }, [element("legend", {}, [t.visibleTo]), ...roles,
        element("div", { class: "bio-properties-panel-description" }, [t.visibleToHelp])]));
    }
    if (field.type === "datetime") {
      const words = ["today", ...dateFieldKeys(field.key)];
      entries.push(textEntry("cf-not-before", t.notBefore, props.not_before, (v) => setProperty(field, "not_before", v), t.dateLimitHelp, words));
      entries.push(textEntry("cf-not-after", t.notAfter, props.not_after, (v) => setProperty(field, "not_after", v), null, words));
    }
    if (CHOICE_TYPES.has(field.type)) {
      const source = element("select", { id: "cf-options-source", class: "bio-properties-panel-input" },
        [element("option", { value: "" }, [t.optionsSourceNone]),
         ...config.optionSources.map((name) => element("option", { value: name, selected: props.options_source === name }, [name]))]);
      source.addEventListener("change", () => setProperty(field, "options_source", source.value));
      entries.push(element("div", { class: "bio-properties-panel-entry" }, [
        element("label", { for: "cf-options-source", class: "bio-properties-panel-label" }, [t.optionsSource]), source]));
      (field.values || []).forEach((option, index) => {
        entries.push(textEntry(`cf-option-en-${index}`, format(t.optionEn, { label: option.label || option.value || "" }), option.label_en, (v) => {
          const values = (field.values || []).map((o, i) => {
            if (i !== index) { return o; }
            const copy = { ...o };
            if (v) { copy.label_en = v; } else { delete copy.label_en; }
            return copy;
          });
          editor.get("modeling").editFormField(field, "values", values);
        }));
      });
    }
    caseflowBox.append(...entries);
  }

  // -- wiring ------------------------------------------------------------------------------------
  editor.on("selection.changed", () => { renderCaseflow(); showSelectedInPreview(); });
  editor.on("changed", () => {
    if (box.dataset.ready !== "true") {
      return;  // the import itself
    }
    dirty = true;
    say(t.unsaved);
    if (!caseflowBox.contains(document.activeElement)) {
      renderCaseflow();
    }
    schedulePreview();
  });
  saveButton.addEventListener("click", save);
  language.addEventListener("change", refreshPreview);
  if (stepSwitch) {
    stepSwitch.addEventListener("change", () => { if (stepSwitch.value) { window.location.assign(stepSwitch.value); } });
  }
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === "s") {
      event.preventDefault();
      save();
    }
  });
  window.addEventListener("beforeunload", (event) => {
    if (dirty) {
      event.preventDefault();
      event.returnValue = t.leave;
    }
  });

  editor.importSchema(config.schema).then(() => {
    watch(box);
    watch(document.getElementById("form-properties"));
    saveButton.disabled = false;
    box.dataset.ready = "true";
    renderCaseflow();
    refreshPreview();
  }).catch((error) => {
    say(format(t.unreadable, { error: error.message }), "error");
  });
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start);
} else {
  start();
}
