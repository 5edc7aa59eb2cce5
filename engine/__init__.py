"""Durable execution of BPMN processes around SpiffWorkflow. Public surface: engine.api,
engine.selectors, engine.registry, engine.errors."""
