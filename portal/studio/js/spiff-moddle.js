// The part of SpiffWorkflow's BPMN extension (namespace spiffworkflow) that Caseflow reads and the
// properties panel writes (engine/spiff/parser.py): properties on tasks and timers, a service
// task's operation with its parameters, and the scripts and message elements kept as they are, so
// bpmn-js reads and writes them as typed elements instead of dropping or mangling them.
export default {
  name: "SpiffWorkflow",
  uri: "http://spiffworkflow.org/bpmn/schema/1.0/core",
  prefix: "spiffworkflow",
  xml: { tagAlias: "lowerCase" },
  types: [
    { name: "Properties", superClass: ["Element"], properties: [{ name: "properties", type: "Property", isMany: true }] },
    { name: "Property", properties: [{ name: "name", isAttr: true, type: "String" }, { name: "value", isAttr: true, type: "String" }] },
    {
      name: "ServiceTaskOperator", superClass: ["Element"],
      properties: [
        { name: "id", isAttr: true, type: "String" },
        { name: "resultVariable", isAttr: true, type: "String" },
        { name: "parameterList", type: "Parameters" },
      ],
    },
    { name: "Parameters", properties: [{ name: "parameters", type: "Parameter", isMany: true }] },
    {
      name: "Parameter",
      properties: [
        { name: "id", isAttr: true, type: "String" },
        { name: "type", isAttr: true, type: "String" },
        { name: "value", isAttr: true, type: "String" },
      ],
    },
    { name: "PreScript", superClass: ["Element"], properties: [{ name: "value", isBody: true, type: "String" }] },
    { name: "PostScript", superClass: ["Element"], properties: [{ name: "value", isBody: true, type: "String" }] },
    { name: "CalledDecisionId", superClass: ["Element"], properties: [{ name: "value", isBody: true, type: "String" }] },
    { name: "MessagePayload", superClass: ["Element"], properties: [{ name: "value", isBody: true, type: "String" }] },
    { name: "MessageVariable", superClass: ["Element"], properties: [{ name: "value", isBody: true, type: "String" }] },
  ],
};
