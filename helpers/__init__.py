"""The course kit's helper package: the plumbing, so each notebook shows only its idea.

Modules (import the one you need; nothing heavy happens at package import):

devices        device choice (cuda → mps → cpu), run profiles smoke/cpu/gpu, seeding
models         pretrained CNNs (torchvision weight enums) and FeatureExtractor with paper layer names
layers         the layer-name tables per architecture
weights        checked weight cache, ``python -m helpers weights prefetch``
architecture   layer tables with output shapes, parameters and receptive fields
images         loading, converting, resizing and saving images; samples and paintings by name
optim          the image-optimisation loop (L-BFGS, Adam; coarse to fine; Ctrl-C keeps the best)
transforms     regularising transforms (jitter, blur, clipping, decay; Yosinski et al. presets)
display        figures, loss plots, live preview, the random-weights mark
toydata/toynet the offline classifier on generated pattern images
deepdream, inversion, guided_backprop, adversarial_training, colour, wei_levoy
               machinery of individual notebooks (never the graded answers)
doctor         ``python -m helpers doctor``: what this machine offers the kit

Course operations (release, grading, the demo gallery) are not here: they live in the
course repository's ``instructor`` package and are never shipped to students.
"""
