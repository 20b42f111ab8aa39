"""The inpainting page behind `app.py`: its HTTP layer, which treats every request as
hostile (`webserver`); its sessions and the handlers the page calls (`webapp`); and the page
itself, HTML, script and style (`static/`)."""
