"""Inpainting a damaged face: the masks (`masks`); loading a model and the latent search
(`inpaint`); the learned first guess of z (`encoder`); Poisson blending (`blend`); PSNR,
SSIM, speckle and flicker (`metrics`); a user's photo found, inpainted and pasted back at
full resolution (`photo`); face videos (`video`) and clips searched frame after frame
(`clips`). `complete.py`, `temporal.py`, `sequence.py` and the page build on it."""
