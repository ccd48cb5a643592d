"""The diffusion method's switch values, in a module light enough to import when only
resolving a cell (the annotator's own modules load when labels are made)."""

PRIORS = ("both", "diffusion", "superpixel")  # what the field is made of
WALKS = ("pde", "particles")  # the walk's expected density, or the public code's walkers
CRF_KERNELS = ("exact", "lattice", "off")  # our exact sums, pydensecrf's lattice, none
