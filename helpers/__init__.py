"""The course kit's helper package: the plumbing, so each notebook shows only its idea.

Modules (import the one you need; nothing heavy happens at package import), one line each:

Devices, models and weights
  devices               device choice (cuda → mps → cpu), run profiles smoke/cpu/gpu, seeding, a timer
  models                pretrained CNNs (torchvision weight enums); FeatureExtractor with paper layer names
  normalize             input normalisation inside the model, so code only sees [0, 1] RGB pixels
  layers                the layer-name tables per architecture (paper names → torchvision modules)
  architecture          layer tables with output shapes, parameters and receptive fields
  weights               checked weight cache (``python -m helpers download weights``)
  provenance            which weights produced what; the random-weights mark on figures
  references            every pretrained-path default with the paper or code it comes from

Images
  images                converting, resizing, cropping and saving images; load_image by path or name
  imageio               reading image files safely: names to paths, decompression-bomb guard, EXIF
  samples               the bundled sample images and the public-domain paintings fetched once
  cache                 where downloads and computed files are kept (``$KIT_CACHE_DIR``), capped copy
  downloads             the one fetch-to-cache mechanism: temporary file, size/hash checks, atomic rename
  display               figures, loss plots, live preview, the random-weights mark
  colour                YIQ, luminance, histogram matching; luminance-only style transfer

Optimising images
  optim                 the loop every algorithm runs on (a package: result, tracker, stages, image, ascent):
                        optimize_image (L-BFGS, Adam; coarse_to_fine), gradient_ascent_loop, one result
  bounded_lbfgs         L-BFGS that keeps pixels inside [0, 1] at every iterate
  transforms            regularising transforms (jitter, blur, clipping, decay; Yosinski et al. presets)

Machinery of individual notebooks (never the graded answers)
  toydata               procedural labelled pattern images for the offline classifier
  toynet                a small CNN trained on toydata in seconds: a real classifier with no download
  patches               maximally activating patches: receptive-field geometry, top positions, crops
  guided_backprop       ReLUs whose backward pass follows a given rule (Springenberg et al. 2015)
  feature_vis           a layer's channels as class scores: unit visualisation, one neuron's gradient
  adversarial_training  adversarial fine-tuning with the attack passed in (Goodfellow et al. 2015)
  fooling               CS231n's fooling images: normalised ascent until the top-1 is the target
  inversion             feature inversion loop, constants and start image (Mahendran & Vedaldi)
  deepdream             DeepDream octaves, detail between them, random roll (Mordvintsev et al. 2015)
  filter_norm           Gatys's normalised VGG: each filter rescaled to mean activation 1
  wei_levoy             classical non-parametric texture synthesis (Wei & Levoy 2000)
  transformer_net       Johnson et al.'s image transformation network and checkpoint loading
  fast_style            training feed-forward style networks: the perceptual loss and the training loop
  photos                random square crops of training photos, reproducible from a generator
  checkpoints           resumable training checkpoints; digests and training keys that name them
  pretrained_styles     the official fast style-transfer checkpoints: prefetch and load
  widgets               ipywidgets control panels for live lecture demos

Exercise checks, errors and the command line
  checking              checks for exercise cells: readable failures, a ✓ line on success
  errors                the kit's exceptions, each saying what went wrong and what to do
  cli                   ``python -m helpers {doctor, download, weights, paintings, styles}``: the dispatcher
  prefetch              ``python -m helpers download {paintings,styles,weights,all} [--list]``
  __main__              the ``python -m helpers`` entry point (runs cli)
  doctor                ``python -m helpers doctor``: what this machine offers the kit

Course operations (release, grading, the demo gallery) are not here: they live in the
course repository's ``instructor`` package and are never shipped to students.
"""
