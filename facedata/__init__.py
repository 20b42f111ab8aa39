"""The data path, from photos to batches: dlib detection, landmarks and the clamped crop
(`faces`); the colour keypoint map (`keypoints`); the built-in synthetic faces with known
landmarks (`synthetic`); the TFRecord schema (`records`); the preprocessing behind
`preprocess_*_images.py` (`preprocess`); splits by identity (`identities`); and the tf.data
pipelines that feed training and testing (`dataset`)."""
