"""File formats.  Every coordinate convention is converted here, at the boundary, to one internal convention:
particle centres in pixels, x = column, y = row of the MRC array (RELION's).  Writers are atomic.
Bad files raise :class:`cryogui.errors.FormatError` naming the file and the problem."""
