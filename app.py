"""A local page to inpaint faces by hand: pick or upload a face, paint the damage, drag its
landmarks or change its expression, and watch the latent search fill it.

    python app.py                                   # the 64x64 real-face model that ships
    python app.py --baseline_dir models/celeba64/dcgan          # and the authors' DCGAN beside it
    python app.py --checkpoint_dir results/runs/conditioned/seed0/checkpoints   # experiments.py's model

Then open the address it prints. Without --checkpoint_dir it uses the keypoint-conditioned
model trained on real faces that ships in models/celeba64/ (its card: MODEL_CARD.md there).
An uploaded photo's fill is pasted back into the whole photo. The page's server side is
webpage/webapp.py; see docs/app.md.
"""
import argparse

from core.configs import SHIPPED_MODEL, add_generator_flag
from utils import UserError, run_cli


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint_dir", default=None,
                   help="a trained model (main.py's --checkpoint_dir; any size); default: the keypoint-conditioned "
                        "model of real faces that ships in models/celeba64/conditioned")
    p.add_argument("--baseline_dir", default=None,
                   help="a second model searched beside the first, e.g. a DCGAN (main.py --arch dcgan)")
    add_generator_flag(p)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on; any but a loopback one (0.0.0.0: every interface) lets others on "
                        "the network reach the page, which then asks for a token printed in its address")
    p.add_argument("--port", type=int, default=7860, help="port to listen on")
    return p.parse_args(argv)


def main(args):
    from webpage import webapp, webserver
    from inpainting.inpaint import load_model
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port {args.port}: use 0 to 65535 (0: any free port)")
    checkpoint_dir = args.checkpoint_dir or SHIPPED_MODEL
    models = [webapp.Model.of(load_model(checkpoint_dir, generator=args.generator), checkpoint_dir)]
    if args.baseline_dir:
        models.append(webapp.Model.of(load_model(args.baseline_dir, generator=args.generator), args.baseline_dir,
                                      "baseline: "))
    token = None if webserver.is_loopback(args.host) else webserver.new_token()
    try:
        server = webserver.make_server(webapp.App(models), args.host, args.port, token=token)
    except OSError as error:
        raise UserError(f"cannot listen on {args.host}:{args.port} ({error.strerror}): pass another --port")
    shown = f"[{args.host}]" if ":" in args.host else args.host
    address = f"http://{shown}:{server.server_port}/" + (f"?token={token}" if token else "")
    if token:
        print(f"warning: --host {args.host} lets anyone who can reach this machine on port {server.server_port} "
              "use the page (no password, only this address's token; plain HTTP, not encrypted). Share the "
              "address only with people you trust; --host 127.0.0.1 keeps it to this machine.", flush=True)
    print(f"inpainting page on {address} (Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    run_cli(main, parse_args, searches=True)
