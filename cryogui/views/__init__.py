"""Qt widgets, one dock panel per file; pyqtgraph for 2D, vispy for 3D; no torch calls, never blocking."""
