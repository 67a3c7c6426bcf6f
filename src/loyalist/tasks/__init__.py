"""Staff tasks: reminders to call, write or greet a customer, with an outcome on the timeline."""
