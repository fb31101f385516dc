"""Real protocol servers that tests run in-process (DNS, ...)."""
