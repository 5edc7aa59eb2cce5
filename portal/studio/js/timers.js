// A timer event's ISO-8601 literal read as plain words (a number and a unit, a date, or a repeat)
// and written back from them with the server's table (config.timerUnits, portal/studio/panel.py),
// quoted as Caseflow's own diagrams write it ("PT24H"). Dates are Beijing time (+08:00).
import { getBusinessObject, is } from "bpmn-js/lib/util/ModelUtil";

const KINDS = { duration: "timeDuration", date: "timeDate", cycle: "timeCycle" };

export function definition(element) {
  const bo = getBusinessObject(element);
  const defs = (bo && bo.get && bo.get("eventDefinitions")) || [];
  return defs.find((d) => is(d, "bpmn:TimerEventDefinition")) || null;
}

function unquote(text) {
  return (text || "").trim().replace(/^(["'])(.*)\1$/, "$2").trim();
}

function matchUnit(literal, config, key) {
  for (const u of (config && config.timerUnits) || []) {
    const pattern = u[key];
    if (!pattern) {
      continue;
    }
    const re = new RegExp(`^${pattern.replace(/[.*+?^$()|[\]\\/]/g, "\\$&").replace("{n}", "(\\d+)")}$`, "i");
    const m = literal.match(re);
    if (m) {
      return { n: Number(m[1]), unit: u.unit };
    }
  }
  return { n: undefined, unit: undefined };
}

// "2026-12-01T09:00:00+08:00" -> "2026-12-01 09:00" (Beijing time).
function showDate(iso) {
  const when = new Date(iso);
  if (!iso || Number.isNaN(when.getTime())) {
    return iso || "";
  }
  return new Date(when.getTime() + 8 * 3600 * 1000).toISOString().slice(0, 16).replace("T", " ");
}

// "2026-12-01 09:00" or "2026-12-01" -> "2026-12-01T09:00:00+08:00", or null.
export function parseDate(text) {
  const m = (text || "").trim().match(/^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{1,2}):(\d{2}))?$/);
  if (!m) {
    return null;
  }
  const hour = String(m[4] || "0").padStart(2, "0");
  const iso = `${m[1]}-${m[2]}-${m[3]}T${hour}:${m[5] || "00"}:00+08:00`;
  return Number.isNaN(new Date(iso).getTime()) || Number(hour) > 23 ? null : iso;
}

export function read(timer, config) {
  const def = definition(timer);
  const kind = Object.keys(KINDS).find((k) => def && def.get(KINDS[k])) || "duration";
  const expr = def && def.get(KINDS[kind]);
  const literal = unquote(expr && expr.get("body"));
  if (kind === "date") {
    return { kind, literal, date: showDate(literal) };
  }
  if (kind === "cycle") {
    const parts = literal.replace(/^R\d*\//i, "").split("/");
    const start = parts.length > 1 ? parts[0] : "";
    return { kind, literal, date: start ? showDate(start) : "", ...matchUnit(`R/${parts[parts.length - 1]}`, config, "cycle") };
  }
  return { kind, literal, ...matchUnit(literal, config, "duration") };
}

export function literalOf(spec, config) {
  if (spec.kind === "date") {
    return parseDate(spec.date) || "";
  }
  const units = config.timerUnits.filter((u) => (spec.kind === "cycle" ? u.cycle : u.duration));
  const unit = units.find((u) => u.unit === spec.unit) || units.find((u) => u.unit === "hours");
  const n = spec.n >= 1 ? spec.n : 1;
  if (spec.kind === "cycle") {
    const start = parseDate(spec.date);
    const literal = unit.cycle.replace("{n}", String(n));
    return start ? literal.replace("R/", `R/${start}/`) : literal;
  }
  return unit.duration.replace("{n}", String(n));
}

export function write(injector, timer, spec) {
  const config = injector.get("caseflowConfig");
  const literal = literalOf(spec, config);
  if (!literal) {
    return;
  }
  const def = definition(timer);
  const expr = injector.get("bpmnFactory").create("bpmn:FormalExpression", { body: `"${literal}"` });
  expr.$parent = def;
  const props = { timeDuration: undefined, timeDate: undefined, timeCycle: undefined };
  props[KINDS[spec.kind]] = expr;
  injector.get("modeling").updateModdleProperties(timer, def, props);
}

export function describe(spec, config, translate) {
  const unit = config.timerUnits.find((u) => u.unit === spec.unit);
  if (!spec.literal) {
    return translate("Not set yet.");
  }
  if (!unit || !spec.n) {
    return translate("Written as {literal}: choose a number and a unit to change it.", { literal: spec.literal });
  }
  const words = spec.kind === "cycle" ? translate("every {n} {unit}", { n: spec.n, unit: unit.label }) : translate("{n} {unit}", { n: spec.n, unit: unit.label });
  return translate("{words} — written as {literal}", { words, literal: spec.literal });
}
