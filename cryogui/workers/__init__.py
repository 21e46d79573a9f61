"""The only place that makes threads: runs core job generators off the GUI thread and throttles what they report."""
