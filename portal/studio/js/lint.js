// bpmnlint's recommended rules that fit Caseflow, built by hand for the bundle (bpmnlint resolves
// rules by name at run time, which a bundle cannot do). Left out: label-required (merging gateways
// and most flows have no name, and the server never needs one), no-inclusive-gateway (Caseflow runs
// inclusive gateways), global (reports unused messages and names of other tools), ad-hoc-sub-process
// and link-event (Caseflow's diagrams use neither), superfluous-label (a label on a plain flow is
// harmless). These are suggestions: the server's deploy checks stay the judge (docs/adr/0013).
import conditionalFlows from "bpmnlint/rules/conditional-flows";
import endEventRequired from "bpmnlint/rules/end-event-required";
import eventBasedGateway from "bpmnlint/rules/event-based-gateway";
import eventSubProcessTypedStartEvent from "bpmnlint/rules/event-sub-process-typed-start-event";
import fakeJoin from "bpmnlint/rules/fake-join";
import noBpmndi from "bpmnlint/rules/no-bpmndi";
import noComplexGateway from "bpmnlint/rules/no-complex-gateway";
import noDisconnected from "bpmnlint/rules/no-disconnected";
import noDuplicateSequenceFlows from "bpmnlint/rules/no-duplicate-sequence-flows";
import noGatewayJoinFork from "bpmnlint/rules/no-gateway-join-fork";
import noImplicitSplit from "bpmnlint/rules/no-implicit-split";
import noImplicitEnd from "bpmnlint/rules/no-implicit-end";
import noImplicitStart from "bpmnlint/rules/no-implicit-start";
import noOverlappingElements from "bpmnlint/rules/no-overlapping-elements";
import singleBlankStartEvent from "bpmnlint/rules/single-blank-start-event";
import singleEventDefinition from "bpmnlint/rules/single-event-definition";
import startEventRequired from "bpmnlint/rules/start-event-required";
import subProcessBlankStartEvent from "bpmnlint/rules/sub-process-blank-start-event";
import superfluousGateway from "bpmnlint/rules/superfluous-gateway";
import superfluousTermination from "bpmnlint/rules/superfluous-termination";

const RULES = {
  "conditional-flows": [conditionalFlows, "error"],
  "end-event-required": [endEventRequired, "error"],
  "event-based-gateway": [eventBasedGateway, "error"],
  "event-sub-process-typed-start-event": [eventSubProcessTypedStartEvent, "error"],
  "fake-join": [fakeJoin, "warn"],
  "no-bpmndi": [noBpmndi, "error"],
  "no-complex-gateway": [noComplexGateway, "error"],
  "no-disconnected": [noDisconnected, "error"],
  "no-duplicate-sequence-flows": [noDuplicateSequenceFlows, "error"],
  "no-gateway-join-fork": [noGatewayJoinFork, "warn"],
  "no-implicit-split": [noImplicitSplit, "warn"],
  "no-implicit-end": [noImplicitEnd, "error"],
  "no-implicit-start": [noImplicitStart, "error"],
  "no-overlapping-elements": [noOverlappingElements, "warn"],
  "single-blank-start-event": [singleBlankStartEvent, "error"],
  "single-event-definition": [singleEventDefinition, "error"],
  "start-event-required": [startEventRequired, "error"],
  "sub-process-blank-start-event": [subProcessBlankStartEvent, "error"],
  "superfluous-gateway": [superfluousGateway, "warn"],
  "superfluous-termination": [superfluousTermination, "warn"],
};

const config = { rules: Object.fromEntries(Object.entries(RULES).map(([name, [, level]]) => [name, level])) };

const resolver = {
  resolveRule(pkg, ruleName) {
    const entry = pkg === "bpmnlint" && RULES[ruleName];
    return entry ? entry[0] : null;
  },
  resolveConfig() {
    return null;
  },
};

export default { config, resolver };
