"""Detector networks, one module per detector, registered in ``benchmark.registry.DETECTORS``.

Every module here is imported when the registry is first used; a module registers its
factory with ``@register_detector(...)`` (see ``detectors.base``).
"""
