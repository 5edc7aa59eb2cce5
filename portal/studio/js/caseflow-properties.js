// The properties panel's only provider: what Caseflow reads from a diagram (engine/spiff/parser.py)
// and nothing it ignores. A lane's role is the "(role)" at the end of its name; routing and timer
// settings are spiffworkflow:property elements; timers are quoted ISO-8601 literals, chosen here in
// plain words from the server's table (portal/studio/panel.py TIMER_UNITS); gateway conditions are
// sandbox expressions, built from the draft's form fields. The server checks all of it again on save.
import { h } from "@bpmn-io/properties-panel/preact";
import {
  CheckboxEntry, ListGroup, NumberFieldEntry, SelectEntry, TextAreaEntry, TextFieldEntry,
} from "@bpmn-io/properties-panel";
import { useService } from "bpmn-js-properties-panel";
import { getBusinessObject, is } from "bpmn-js/lib/util/ModelUtil";

import * as cond from "./conditions";
import * as timers from "./timers";

const LANE_ROLE = /\s*\(\s*([a-z][a-z0-9_]*)\s*\)\s*$/;

// -- reading and writing the model ---------------------------------------------------------------

function spiffProperties(bo) {
  const ext = bo.get("extensionElements");
  const holder = ext && ext.get("values").find((v) => is(v, "spiffworkflow:Properties"));
  return holder ? holder.get("properties") : [];
}

function getProperty(element, name) {
  const found = spiffProperties(getBusinessObject(element)).find((p) => p.get("name") === name);
  return found ? found.get("value") || "" : "";
}

// Set (or, with an empty value, remove) one spiffworkflow:property, as one undoable command.
function setProperty(injector, element, name, value) {
  const bo = getBusinessObject(element);
  const modeling = injector.get("modeling");
  const factory = injector.get("bpmnFactory");
  let ext = bo.get("extensionElements");
  if (!ext) {
    ext = factory.create("bpmn:ExtensionElements", { values: [] });
    ext.$parent = bo;
    modeling.updateModdleProperties(element, bo, { extensionElements: ext });
  }
  let holder = ext.get("values").find((v) => is(v, "spiffworkflow:Properties"));
  if (!holder) {
    holder = factory.create("spiffworkflow:Properties", { properties: [] });
    holder.$parent = ext;
    modeling.updateModdleProperties(element, ext, { values: [...ext.get("values"), holder] });
  }
  const others = holder.get("properties").filter((p) => p.get("name") !== name);
  if (value) {
    const prop = factory.create("spiffworkflow:Property", { name, value });
    prop.$parent = holder;
    others.push(prop);
  }
  modeling.updateModdleProperties(element, holder, { properties: others });
}

function attachedTimers(registry, element) {
  return registry.filter((e) => is(e, "bpmn:BoundaryEvent") && e.host === element && timers.definition(e));
}

function otherUserTasks(registry, element) {
  return registry.filter((e) => (is(e, "bpmn:UserTask") || is(e, "bpmn:ManualTask") || is(e, "bpmn:StartEvent")) && e.id !== element.id && !e.labelTarget);
}

// Tasks from which `element` can be reached by following sequence flows backwards: the steps a
// review can be about.
function earlierTasks(element) {
  const seen = new Set();
  const found = [];
  const queue = [getBusinessObject(element)];
  while (queue.length) {
    const node = queue.shift();
    (node.get("incoming") || []).forEach((flow) => {
      const source = flow.get("sourceRef");
      const sourceNode = is(source, "bpmn:BoundaryEvent") ? source.get("attachedToRef") : source;
      if (sourceNode && !seen.has(sourceNode.id)) {
        seen.add(sourceNode.id);
        queue.push(sourceNode);
        if (is(sourceNode, "bpmn:UserTask") || is(sourceNode, "bpmn:ManualTask") || is(sourceNode, "bpmn:StartEvent")) {
          found.push(sourceNode);
        }
      }
    });
  }
  return found;
}

function named(bo) {
  return bo.get("name") ? `${bo.get("name")} (${bo.id})` : bo.id;
}

// -- entries ---------------------------------------------------------------------------------

function text(props, { label, get, set, disabled, description, validate }) {
  const debounce = useService("debounceInput");
  return h(TextFieldEntry, { element: props.element, id: props.id, label, getValue: get, setValue: set, debounce, disabled, description, validate });
}

function select(props, { label, get, set, options, description }) {
  return h(SelectEntry, { element: props.element, id: props.id, label, getValue: get, setValue: set, getOptions: options, description });
}

function IdEntry(props) {
  const translate = useService("translate");
  return text(props, { label: translate("ID"), get: () => props.element.id, set: () => {}, disabled: true });
}

function NameEntry(props) {
  const translate = useService("translate");
  const modeling = useService("modeling");
  const bo = getBusinessObject(props.element);
  return text(props, { label: translate("Name"), get: () => bo.get("name") || "", set: (value) => modeling.updateProperties(props.element, { name: value || undefined }) });
}

function RoleEntry(props) {
  const translate = useService("translate");
  const modeling = useService("modeling");
  const config = useService("caseflowConfig");
  const bo = getBusinessObject(props.element);
  const current = () => { const m = (bo.get("name") || "").match(LANE_ROLE); return m ? m[1] : ""; };
  const set = (code) => {
    const base = (bo.get("name") || "").replace(LANE_ROLE, "").trim();
    const role = config.roles.find((r) => r.code === code);
    const title = base || (role ? role.label : "");
    modeling.updateProperties(props.element, { name: code ? `${title} (${code})` : title || undefined });
  };
  const options = () => [{ value: "", label: translate("(no role: tasks here cannot be done)") },
    ...config.roles.map((r) => ({ value: r.code, label: `${r.label} (${r.code})` }))];
  return select(props, { label: translate("Role"), get: current, set, options, description: translate("Who does the tasks in this lane. Written at the end of the lane's name, e.g. 社工 (worker).") });
}

function FormLink(props) {
  const translate = useService("translate");
  const config = useService("caseflowConfig");
  const fields = config.fields[props.element.id] || [];
  const href = config.formUrl.replace("{element}", encodeURIComponent(props.element.id));
  return h("div", { class: "bio-properties-panel-entry cf-form-link" },
    h("a", { href, "data-testid": "edit-form" }, translate("Edit form")),
    h("p", { class: "bio-properties-panel-description" },
      fields.length ? translate("{count} fields: {names}", { count: fields.length, names: fields.map((f) => f.label).join("、") }) : translate("No form yet: a generic confirm form is used.")));
}

function fieldOptions(config, translate, { onlyVariables, types } = {}) {
  const seen = new Map();
  Object.values(config.fields).forEach((list) => list.forEach((f) => {
    if ((!onlyVariables || f.processVariable) && (!types || types.includes(f.type)) && !seen.has(f.key)) {
      seen.set(f.key, f);
    }
  }));
  return [...seen.values()].map((f) => ({
    value: f.key,
    label: f.processVariable ? `${f.label} (${f.key})` : `${f.label} (${f.key}) — ${translate("not a process variable")}`,
  }));
}

function withCurrent(options, current, translate) {
  if (current && !options.some((o) => o.value === current)) {
    return [...options, { value: current, label: `${current} — ${translate("not a field of this process's forms")}` }];
  }
  return options;
}

function PropertySelect(props) {
  const translate = useService("translate");
  const injector = useService("injector");
  const config = useService("caseflowConfig");
  const registry = useService("elementRegistry");
  const { name } = props;
  const get = () => getProperty(props.element, name);
  const set = (value) => setProperty(injector, props.element, name, value);
  let options;
  if (name === "withdrawn_after") {
    options = () => withCurrent([{ value: "", label: translate("(never)") }, ...registry.filter((e) => is(e, "bpmn:Activity") && e.id !== props.element.id && !e.labelTarget)
      .map((e) => ({ value: e.id, label: named(getBusinessObject(e)) }))], get(), translate);
  } else {
    options = () => withCurrent([{ value: "", label: translate("(the lane's role)") }, ...fieldOptions(config, translate, { onlyVariables: true })], get(), translate);
  }
  const texts = {
    assignee_from: [translate("Assigned to the user in"), translate("A form field (process variable) holding a username; the task goes straight to that person.")],
    candidate_group_from: [translate("Group from"), translate("A form field (process variable) holding the group that may claim the task, instead of the lane's role.")],
    withdrawn_after: [translate("Withdrawn once this step is done"), translate("For a reminder's follow-up: the task disappears once the step you choose is no longer running.")],
  };
  return select(props, { label: texts[name][0], description: texts[name][1], get, set, options });
}

function ReviewOfEntry(props) {
  const injector = useService("injector");
  const { task } = props;
  const get = () => getProperty(props.element, "review_of").split(",").map((s) => s.trim()).includes(task.id);
  const set = (on) => {
    const ids = getProperty(props.element, "review_of").split(",").map((s) => s.trim()).filter((s) => s && s !== task.id);
    if (on) {
      ids.push(task.id);
    }
    setProperty(injector, props.element, "review_of", ids.join(","));
  };
  return h(CheckboxEntry, { element: props.element, id: props.id, label: named(task), getValue: get, setValue: set });
}

// One timer's settings, on the timer itself or in its task's SLA group (props.timer).
function TimerKindEntry(props) {
  const translate = useService("translate");
  const injector = useService("injector");
  const config = useService("caseflowConfig");
  const timer = props.timer || props.element;
  return select(props, {
    label: translate("Fires"), get: () => timers.read(timer, config).kind,
    set: (kind) => timers.write(injector, timer, { ...timers.read(timer, config), kind }),
    options: () => [{ value: "duration", label: translate("after a while") }, { value: "date", label: translate("at a date and time") }, { value: "cycle", label: translate("again and again") }],
  });
}

function TimerAmountEntry(props) {
  const translate = useService("translate");
  const injector = useService("injector");
  const config = useService("caseflowConfig");
  const debounce = useService("debounceInput");
  const timer = props.timer || props.element;
  const spec = timers.read(timer, config);
  return h(NumberFieldEntry, {
    element: props.element, id: props.id, min: 1, max: 9999, debounce,
    label: spec.kind === "cycle" ? translate("Every") : translate("After"),
    getValue: () => timers.read(timer, config).n,
    setValue: (n) => { if (n >= 1) { timers.write(injector, timer, { ...timers.read(timer, config), n: Math.floor(n) }); } },
  });
}

function TimerUnitEntry(props) {
  const translate = useService("translate");
  const injector = useService("injector");
  const config = useService("caseflowConfig");
  const timer = props.timer || props.element;
  const spec = timers.read(timer, config);
  return select(props, {
    label: translate("Unit"), get: () => timers.read(timer, config).unit,
    set: (unit) => timers.write(injector, timer, { ...timers.read(timer, config), unit }),
    options: () => config.timerUnits.filter((u) => spec.kind !== "cycle" || u.cycle).map((u) => ({ value: u.unit, label: u.label })),
    description: timers.describe(spec, config, translate),
  });
}

function TimerDateEntry(props) {
  const translate = useService("translate");
  const injector = useService("injector");
  const config = useService("caseflowConfig");
  const timer = props.timer || props.element;
  const spec = timers.read(timer, config);
  return text(props, {
    label: spec.kind === "cycle" ? translate("Starting (optional)") : translate("Date and time"),
    description: translate("For example 2026-12-01 09:00 (Beijing time)."),
    get: () => timers.read(timer, config).date,
    validate: (value) => (value && !timers.parseDate(value) ? translate("Write the date as 2026-12-01 09:00.") : null),
    set: (date) => { if (!date || timers.parseDate(date)) { timers.write(injector, timer, { ...timers.read(timer, config), date: date || "" }); } },
  });
}

function ClockEntry(props) {
  const translate = useService("translate");
  const injector = useService("injector");
  const config = useService("caseflowConfig");
  const timer = props.timer || props.element;
  const get = () => getProperty(timer, "clock_starts_from");
  return select(props, {
    label: translate("Counted from"),
    description: translate("A date field of a form (a process variable), e.g. when the report was received; otherwise the moment the case reaches this timer."),
    get, set: (value) => setProperty(injector, timer, "clock_starts_from", value),
    options: () => withCurrent([{ value: "", label: translate("(when the timer starts waiting)") }, ...fieldOptions(config, translate, { onlyVariables: true, types: ["datetime"] })], get(), translate),
  });
}

function CalendarEntry(props) {
  const translate = useService("translate");
  const injector = useService("injector");
  const timer = props.timer || props.element;
  const get = () => getProperty(timer, "calendar");
  return select(props, {
    label: translate("Count"),
    description: translate("Working days skip weekends and public holidays and count adjusted working days (the station's calendar); only for a number of days."),
    get, set: (value) => setProperty(injector, timer, "calendar", value),
    options: () => withCurrent([{ value: "", label: translate("calendar time") }, { value: "working_days", label: translate("working days") }], get(), translate),
  });
}

function timerEntries(element, timer, prefix) {
  const spec = timers.read(timer, null);
  const entries = [{ id: `${prefix}-kind`, component: TimerKindEntry, timer }];
  if (spec.kind !== "date") {
    entries.push({ id: `${prefix}-n`, component: TimerAmountEntry, timer }, { id: `${prefix}-unit`, component: TimerUnitEntry, timer });
  }
  if (spec.kind !== "duration") {
    entries.push({ id: `${prefix}-date`, component: TimerDateEntry, timer });
  }
  if (spec.kind === "duration") {
    entries.push({ id: `${prefix}-clock`, component: ClockEntry, timer }, { id: `${prefix}-calendar`, component: CalendarEntry, timer });
  }
  return entries;
}

function TimerTitle(props) {
  const translate = useService("translate");
  const bo = getBusinessObject(props.timer);
  const interrupting = bo.get("cancelActivity") !== false;
  return h("div", { class: "bio-properties-panel-entry cf-timer-title" },
    h("strong", {}, bo.get("name") || bo.id), " ",
    h("span", { class: "bio-properties-panel-description" }, interrupting ? translate("stops the task") : translate("the task stays open")));
}

// -- conditions ------------------------------------------------------------------------------

function DefaultFlowEntry(props) {
  const translate = useService("translate");
  const modeling = useService("modeling");
  const source = props.element.source;
  const get = () => getBusinessObject(source).get("default") === getBusinessObject(props.element);
  const set = (on) => {
    modeling.updateProperties(source, { default: on ? getBusinessObject(props.element) : undefined });
    if (on) {
      modeling.updateProperties(props.element, { conditionExpression: undefined });
    }
  };
  return h(CheckboxEntry, { element: props.element, id: props.id, label: translate("Default flow: taken when no other condition holds"), getValue: get, setValue: set });
}

function ConditionModeEntry(props) {
  const translate = useService("translate");
  const config = useService("caseflowConfig");
  const state = useService("caseflowState");
  const eventBus = useService("eventBus");
  const get = () => state.mode(props.element, config);
  return select(props, {
    label: translate("Condition"), get,
    // Not a model change: the panel is told to draw the flow again.
    set: (mode) => { state.setMode(props.element, mode); eventBus.fire("elements.changed", { elements: [props.element] }); },
    options: () => [{ value: "builder", label: translate("Built from a form field") }, { value: "text", label: translate("Written as an expression (advanced)") }],
  });
}

function conditionUpdater(injector, element) {
  return (parts) => {
    const config = injector.get("caseflowConfig");
    const expression = cond.build(parts, config);
    const modeling = injector.get("modeling");
    if (!expression) {
      return;
    }
    const formal = injector.get("bpmnFactory").create("bpmn:FormalExpression", { body: expression });
    modeling.updateProperties(element, { conditionExpression: formal });
  };
}

function currentCondition(element) {
  const expr = getBusinessObject(element).get("conditionExpression");
  return expr ? expr.get("body") || "" : "";
}

function ConditionFieldEntry(props) {
  const translate = useService("translate");
  const config = useService("caseflowConfig");
  const injector = useService("injector");
  const update = conditionUpdater(injector, props.element);
  const parts = () => cond.parse(currentCondition(props.element), config) || {};
  return select(props, {
    label: translate("Field"), get: () => parts().field || "",
    set: (field) => update({ ...parts(), field }),
    options: () => withCurrent([{ value: "", label: translate("(choose a field)") }, ...fieldOptions(config, translate)], parts().field, translate),
  });
}

function ConditionOperatorEntry(props) {
  const translate = useService("translate");
  const config = useService("caseflowConfig");
  const injector = useService("injector");
  const update = conditionUpdater(injector, props.element);
  const parts = () => cond.parse(currentCondition(props.element), config) || {};
  return select(props, {
    label: translate("Operator"), get: () => parts().op || "==",
    set: (op) => update({ ...parts(), op }),
    options: () => cond.OPERATORS.map((op) => ({ value: op.value, label: translate(op.label) })),
  });
}

function ConditionValueEntry(props) {
  const translate = useService("translate");
  const config = useService("caseflowConfig");
  const injector = useService("injector");
  const update = conditionUpdater(injector, props.element);
  const parts = () => cond.parse(currentCondition(props.element), config) || {};
  const field = cond.field(config, parts().field);
  const choices = cond.choices(field, translate);
  if (choices && parts().op !== "in") {
    return select(props, {
      label: translate("Value"), get: () => parts().value || "",
      set: (value) => update({ ...parts(), value }),
      options: () => [{ value: "", label: translate("(choose a value)") }, ...choices],
    });
  }
  return text(props, {
    label: translate("Value"), get: () => parts().value || "",
    description: parts().op === "in" ? translate("Several values, separated by commas.") + (choices ? ` ${choices.map((c) => `${c.value} = ${c.label}`).join("; ")}` : "") : "",
    set: (value) => update({ ...parts(), value }),
  });
}

function ConditionTextEntry(props) {
  const translate = useService("translate");
  const modeling = useService("modeling");
  const bpmnFactory = useService("bpmnFactory");
  const debounce = useService("debounceInput");
  return h(TextAreaEntry, {
    element: props.element, id: props.id, label: translate("Expression"), debounce, rows: 2,
    description: translate("For example: risk_level == \"high\" or present_danger == True. Fields must be process variables."),
    getValue: () => currentCondition(props.element),
    setValue: (value) => modeling.updateProperties(props.element, {
      conditionExpression: value && value.trim() ? bpmnFactory.create("bpmn:FormalExpression", { body: value.trim() }) : undefined,
    }),
  });
}

// -- service tasks ---------------------------------------------------------------------------

function operatorOf(element) {
  const ext = getBusinessObject(element).get("extensionElements");
  return ext && ext.get("values").find((v) => is(v, "spiffworkflow:ServiceTaskOperator"));
}

function ensureOperator(injector, element) {
  const found = operatorOf(element);
  if (found) {
    return found;
  }
  const bo = getBusinessObject(element);
  const modeling = injector.get("modeling");
  const factory = injector.get("bpmnFactory");
  let ext = bo.get("extensionElements");
  if (!ext) {
    ext = factory.create("bpmn:ExtensionElements", { values: [] });
    ext.$parent = bo;
    modeling.updateModdleProperties(element, bo, { extensionElements: ext });
  }
  const operator = factory.create("spiffworkflow:ServiceTaskOperator", {});
  operator.$parent = ext;
  const list = factory.create("spiffworkflow:Parameters", { parameters: [] });
  list.$parent = operator;
  operator.set("parameterList", list);
  modeling.updateModdleProperties(element, ext, { values: [...ext.get("values"), operator] });
  return operator;
}

function ServiceEntry(props) {
  const translate = useService("translate");
  const injector = useService("injector");
  const config = useService("caseflowConfig");
  const get = () => (operatorOf(props.element) ? operatorOf(props.element).get("id") || "" : "");
  return select(props, {
    label: translate("Operation"), get,
    set: (id) => injector.get("modeling").updateModdleProperties(props.element, ensureOperator(injector, props.element), { id: id || undefined }),
    options: () => withCurrent([{ value: "", label: translate("(choose an operation)") }, ...config.services.map((s) => ({ value: s, label: s }))], get(), translate),
  });
}

function ResultEntry(props) {
  const translate = useService("translate");
  const injector = useService("injector");
  return text(props, {
    label: translate("Result variable"), description: translate("The name later conditions use to read what the operation answered."),
    get: () => (operatorOf(props.element) ? operatorOf(props.element).get("resultVariable") || "" : ""),
    validate: (value) => (value && !/^[a-z][A-Za-z0-9_]{0,63}$/.test(value) ? translate("Letters, digits and _, starting with a small letter.") : null),
    set: (value) => {
      if (!value || /^[a-z][A-Za-z0-9_]{0,63}$/.test(value)) {
        injector.get("modeling").updateModdleProperties(props.element, ensureOperator(injector, props.element), { resultVariable: value || undefined });
      }
    },
  });
}

function ParameterEntry(props) {
  const translate = useService("translate");
  const modeling = useService("modeling");
  const { parameter, attr } = props;
  return text(props, {
    label: attr === "id" ? translate("Parameter name") : translate("Value (expression)"),
    get: () => parameter.get(attr) || "",
    set: (value) => modeling.updateModdleProperties(props.element, parameter, { [attr]: value }),
  });
}

function parameterGroup(element, injector, translate) {
  const operator = operatorOf(element);
  const list = operator && operator.get("parameterList");
  const parameters = list ? list.get("parameters") : [];
  const modeling = injector.get("modeling");
  const add = (event) => {
    event.stopPropagation();
    const op = ensureOperator(injector, element);
    let holder = op.get("parameterList");
    if (!holder) {
      holder = injector.get("bpmnFactory").create("spiffworkflow:Parameters", { parameters: [] });
      holder.$parent = op;
      modeling.updateModdleProperties(element, op, { parameterList: holder });
    }
    const param = injector.get("bpmnFactory").create("spiffworkflow:Parameter", { id: `param${holder.get("parameters").length + 1}`, type: "any", value: "" });
    param.$parent = holder;
    modeling.updateModdleProperties(element, holder, { parameters: [...holder.get("parameters"), param] });
  };
  return {
    id: "cf-parameters", label: translate("Parameters"), component: ListGroup, element, add,
    items: parameters.map((param, index) => ({
      id: `cf-param-${index}`, label: param.get("id") || translate("Parameter"),
      entries: [
        { id: `cf-param-${index}-id`, component: ParameterEntry, parameter: param, attr: "id" },
        { id: `cf-param-${index}-value`, component: ParameterEntry, parameter: param, attr: "value" },
      ],
      remove: () => modeling.updateModdleProperties(element, list, { parameters: list.get("parameters").filter((p) => p !== param) }),
    })),
  };
}

// -- the provider ----------------------------------------------------------------------------

function isConditionalFlow(element) {
  return is(element, "bpmn:SequenceFlow") && element.source && (is(element.source, "bpmn:ExclusiveGateway") || is(element.source, "bpmn:InclusiveGateway"));
}

function CaseflowPropertiesProvider(propertiesPanel, injector, translate, elementRegistry) {

  this.getGroups = (element) => () => {
    const groups = [{
      id: "cf-general", label: translate("General"),
      entries: [{ id: "cf-id", component: IdEntry }, { id: "cf-name", component: NameEntry }],
    }];
    if (is(element, "bpmn:Lane")) {
      groups.push({ id: "cf-role", label: translate("Role"), entries: [{ id: "cf-lane-role", component: RoleEntry }] });
    }
    if (is(element, "bpmn:UserTask") || is(element, "bpmn:ManualTask")) {
      groups.push({ id: "cf-form", label: translate("Form"), entries: [{ id: "cf-form-link", component: FormLink }] });
      const sla = attachedTimers(elementRegistry, element);
      if (sla.length) {
        groups.push({
          id: "cf-sla", label: translate("Deadlines (SLA)"),
          entries: sla.flatMap((timer) => [{ id: `cf-sla-${timer.id}`, component: TimerTitle, timer }, ...timerEntries(element, timer, `cf-sla-${timer.id}`)]),
        });
      }
      groups.push({
        id: "cf-routing", label: translate("Routing"),
        entries: ["assignee_from", "candidate_group_from", "withdrawn_after"].map((name) => ({ id: `cf-${name}`, component: PropertySelect, name })),
      });
      const earlier = earlierTasks(element);
      const listed = getProperty(element, "review_of").split(",").map((s) => s.trim()).filter(Boolean);
      const extra = otherUserTasks(elementRegistry, element).map(getBusinessObject).filter((bo) => listed.includes(bo.id) && !earlier.includes(bo));
      groups.push({
        id: "cf-review", label: translate("Shows the submissions of"),
        entries: [...earlier, ...extra].map((task) => ({ id: `cf-review-${task.id}`, component: ReviewOfEntry, task })),
      });
    }
    if (timers.definition(element)) {
      groups.push({ id: "cf-timer", label: translate("Timer"), entries: timerEntries(element, element, "cf-timer") });
    }
    if (isConditionalFlow(element)) {
      const isDefault = getBusinessObject(element.source).get("default") === getBusinessObject(element);
      const entries = [{ id: "cf-default", component: DefaultFlowEntry }];
      if (!isDefault) {
        entries.push({ id: "cf-cond-mode", component: ConditionModeEntry });
        if (injector.get("caseflowState").mode(element, injector.get("caseflowConfig")) === "builder") {
          entries.push({ id: "cf-cond-field", component: ConditionFieldEntry }, { id: "cf-cond-op", component: ConditionOperatorEntry },
            { id: "cf-cond-value", component: ConditionValueEntry });
        } else {
          entries.push({ id: "cf-cond-text", component: ConditionTextEntry });
        }
      }
      groups.push({ id: "cf-condition", label: translate("Condition"), entries });
    }
    if (is(element, "bpmn:ServiceTask")) {
      groups.push({ id: "cf-service", label: translate("Service"), entries: [{ id: "cf-operation", component: ServiceEntry }, { id: "cf-result", component: ResultEntry }] });
      groups.push(parameterGroup(element, injector, translate));
    }
    return groups;
  };
  propertiesPanel.registerProvider(500, this);
}

CaseflowPropertiesProvider.$inject = ["propertiesPanel", "injector", "translate", "elementRegistry"];

// The panel redraws when the selected element changes; a user task's SLA group shows its boundary
// timers, so a change to one of them is told to the panel as a change of the task.
function SlaRefresh(eventBus, selection) {
  eventBus.on("elements.changed", ({ elements }) => {
    const [selected] = selection.get();
    if (selected && !elements.includes(selected) && elements.some((e) => e.host === selected)) {
      eventBus.fire("elements.changed", { elements: [selected] });
    }
  });
}

SlaRefresh.$inject = ["eventBus", "selection"];

// The condition builder's mode per flow: the builder when it can show the condition, else text.
function ConditionState() {
  const chosen = new Map();
  this.mode = (element, config) => chosen.get(element.id) || (cond.parse(currentCondition(element), config) || !currentCondition(element) ? "builder" : "text");
  this.setMode = (element, mode) => chosen.set(element.id, mode);
}

export function caseflowPropertiesModule(config) {
  return {
    __init__: ["caseflowPropertiesProvider", "caseflowSlaRefresh"],
    caseflowSlaRefresh: ["type", SlaRefresh],
    caseflowPropertiesProvider: ["type", CaseflowPropertiesProvider],
    caseflowConfig: ["value", config],
    caseflowState: ["type", ConditionState],
  };
}
