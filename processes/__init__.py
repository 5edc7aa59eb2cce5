"""One package per process: its diagram under processes/bpmn/, its forms, its records and the
handlers it registers with the engine."""
