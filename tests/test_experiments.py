import json

import experiments


def test_driver_writes_a_well_formed_table(tmp_path):
    args = experiments.parse_args([
        "--results", str(tmp_path / "results"), "--train_faces", "40", "--test_faces", "4", "--output_size", "32",
        "--gf_dim", "8", "--df_dim", "8", "--batch_size", "8", "--train_steps", "4", "--nIter", "2",
        "--temporal_subjects", "2", "--encoder_study", "--encoder_steps", "2", "--milestones", "0,1,2"])
    results = experiments.main(args)
    out = tmp_path / "results"
    table = (out / "results.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    header = rows[0]
    assert all(m in header for m in ("center", "checkboard", "left", "freehand", "consistency MSE"))
    dip = next(r for r in rows if r.startswith("| DIP"))
    ours = next(r for r in rows if r.startswith("| keypoint-conditioned"))
    for row in (dip, ours):
        cells = [c.strip() for c in row.strip("|").split("|")][1:]
        assert len(cells) == 5 and all(" / " in c and "n/a" not in c for c in cells)
    assert "| gain (after blending) |" in table
    assert "| mean training face, no GAN |" in table
    saved = json.load(open(out / "results.json"))
    for key in ("conditioned", "unconditioned"):
        assert saved["results"][key]["completion"]["center"]["psnr_after_blending"]["count"] == 4
        assert saved["results"][key]["consistency"]["consistency_after_blending"]["count"] == 2
    assert results["conditioned"]["completion"]["left"]["conditional"] is True
    assert results["unconditioned"]["completion"]["left"]["conditional"] is False
    for name in ("same_k_diff_z.png", "same_z_diff_k.png", "sample_conditioned.png", "sample_unconditioned.png"):
        assert (out / "figures" / name).exists(), name
    assert list((out / "consistency" / "conditioned").glob("subject_*.gif"))
    # The learned-initialiser study: PSNR curves for both starts at each milestone, in the table too.
    study = saved["encoder_study"]
    assert study["milestones"] == [0, 1, 2]
    for mask in ("center", "checkboard", "left", "freehand_poly"):
        curves = study["masks"][mask]["curves"]
        assert set(curves) == {"random", "encoder"} and len(curves["encoder"]) == 3
    assert "consistency_encoder_0" in study
    scores = saved["results"]["decoupling"]
    assert set(scores) == {"appearance_from_z", "appearance_from_map", "structure_from_map", "structure_from_z"}
    assert "decoupling" in table
    assert "## Learned initialiser" in table and "encoder start" in table
