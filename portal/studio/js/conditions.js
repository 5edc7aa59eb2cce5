// The condition builder's half of a gateway flow's condition: "field operator value" read from and
// written as an expression the engine's sandbox evaluates (engine/spiff/scripting.py), e.g.
// plan_decision == "return", risk_level in ["high", "medium"], present_danger == True. Anything
// else stays in the text mode.
export const OPERATORS = [
  { value: "==", label: "is" },
  { value: "!=", label: "is not" },
  { value: "<", label: "is less than" },
  { value: "<=", label: "is at most" },
  { value: ">", label: "is more than" },
  { value: ">=", label: "is at least" },
  { value: "in", label: "is one of" },
];

const SHAPE = /^\s*([a-z][A-Za-z0-9_]*)\s*(==|!=|<=|>=|<|>|\bin\b)\s*(.+?)\s*$/;
const ITEM = /^\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|(True|False|-?\d+(?:\.\d+)?))\s*$/;

export function field(config, key) {
  for (const list of Object.values(config.fields)) {
    const found = list.find((f) => f.key === key);
    if (found) {
      return found;
    }
  }
  return null;
}

function readItem(text) {
  const m = text.match(ITEM);
  if (!m) {
    return null;
  }
  return m[1] !== undefined ? JSON.parse(`"${m[1]}"`) : m[2] !== undefined ? m[2] : m[3];
}

// {field, op, value} of an expression the builder can show, else null.
export function parse(expression) {
  const m = (expression || "").match(SHAPE);
  if (!m) {
    return null;
  }
  const [, key, op, rest] = m;
  if (op === "in") {
    const list = rest.match(/^\[(.*)\]$/);
    const items = list ? list[1].split(",").filter((s) => s.trim()).map(readItem) : [null];
    return items.includes(null) ? null : { field: key, op, value: items.join(", ") };
  }
  const value = readItem(rest);
  return value === null ? null : { field: key, op, value };
}

function literal(value, f) {
  const text = String(value).trim();
  if (f && f.type === "checkbox") {
    return text === "False" ? "False" : "True";
  }
  if (f && f.type === "number" && /^-?\d+(\.\d+)?$/.test(text)) {
    return text;
  }
  return JSON.stringify(text);
}

export function choices(f, translate) {
  if (!f) {
    return null;
  }
  if (f.type === "checkbox") {
    return [{ value: "True", label: translate("yes (ticked)") }, { value: "False", label: translate("no (not ticked)") }];
  }
  return f.options && f.options.length ? f.options.map((o) => ({ value: String(o.value), label: `${o.label} (${o.value})` })) : null;
}

// The expression for {field, op, value}; a value not chosen yet starts as the field's first choice,
// so every step of the builder is saved and the server checks it.
export function build(parts, config) {
  if (!parts.field) {
    return null;
  }
  const f = field(config, parts.field);
  const op = parts.op || "==";
  let value = parts.value;
  if (value === undefined || value === "") {
    const first = f && f.type === "checkbox" ? "True" : f && f.options && f.options[0] ? String(f.options[0].value) : f && f.type === "number" ? "0" : "";
    value = first;
  }
  if (op === "in") {
    return `${parts.field} in [${String(value).split(",").filter((s) => s.trim()).map((v) => literal(v, f)).join(", ")}]`;
  }
  return `${parts.field} ${op} ${literal(value, f)}`;
}
