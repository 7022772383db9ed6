"""Training: data sets and splits, augmentation, training and calibration, evaluation, vocoder twins.

The `train` extra (``pip install "aiaudio[train]"``). Nothing in the inference core imports this
package; it imports the core.

- :mod:`aiaudio.training.data`: data sets, splits, segment sampling
- :mod:`aiaudio.training.augment`: codecs, band limits, gain, EQ, compression, pitch, tempo, noise
- :mod:`aiaudio.training.train`: training and calibration
- :mod:`aiaudio.training.evaluate`: metrics, robustness, plots, recalibration on human tracks
- :mod:`aiaudio.training.vocoders`: HiFi-GAN / Griffin-Lim twins for training material
"""
