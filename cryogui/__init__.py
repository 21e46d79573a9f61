"""cryogui: a desktop application for cryo-EM analysis, teaching and manual curation of particle picks."""

__version__ = "0.1.0"
