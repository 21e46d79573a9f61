"""The shell: QApplication, MainWindow, docks, menus, settings, ``run_gui``; wires the rest."""
