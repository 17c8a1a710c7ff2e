"""gan3d-studio desktop application (installed as ``gan3d_studio``).

The Qt application is built on :mod:`gan3d_core`; nothing in the core imports it.
"""
