"""The paper's comparison, behind `experiments.py`: its data and the compared GANs trained at
one budget (`comparison`); the correctness and consistency experiments over test faces
(`evaluation`); results.md and results.json (`report`); bootstrap intervals (`stats`); and
the pose and appearance figures (`figures`)."""
