"""The science: numpy, scipy and torch only.  Nothing in here imports Qt, pyqtgraph or vispy."""
