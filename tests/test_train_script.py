"""scripts/train_clip.py: two processes under torchrun, checkpoints clip.load reads, exact resume, bad input."""
import importlib.util
import json
import os
import socket
import subprocess
import sys

import clip
import pytest
import torch

from utils import shapes
from utils.models import clip_load_quietly, load_clip
from utils.settings import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "train_clip.py"
# A tiny CLIP (3.3M parameters, nearly all of them the token embedding) so a step takes milliseconds.
TINY = ["--width", "64", "--layers", "1", "--text-layers", "1", "--embed-dim", "64", "--image-size", "32",
        "--patch-size", "8", "--context-length", "16", "--log-every", "1", "--seed", "3"]


def load_script():
    spec = importlib.util.spec_from_file_location("train_clip_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


script = load_script()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(args, nproc=2):
    """Run the script as a user would: torchrun on this machine only, one thread per process."""
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
           "--master_addr=127.0.0.1", f"--master_port={free_port()}", str(SCRIPT), *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COURSE_MODE": "tiny"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, f"torchrun failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def read_log(out):
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def check_loads_with_clip(path):
    """The checkpoint must be what clip.load rebuilds, and load_clip must give back the saved weights."""
    plain, _ = clip_load_quietly(path, "cpu")  # clip.load(..., jit=False), without torch's jit.load warning
    assert isinstance(plain, clip.model.CLIP)
    model, preprocess = load_clip(str(path), device="cpu")
    saved = torch.load(path)
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())
    assert model.visual.input_resolution == 32 and model.context_length == 16
    with torch.no_grad():
        image = model.encode_image(preprocess(shapes.make_image("red", "circle")).unsqueeze(0))
        text = model.encode_text(clip.tokenize(["a red circle"], context_length=16))
    assert image.shape == text.shape == (1, 64)
    return model


def make_folder(root, n=24, size=48):
    """A user's folder: PNGs of another size than the model's (so resizing is exercised) + a CSV."""
    root.mkdir()
    lines = ["filename,caption"]
    for i in range(n):
        colour, shape = shapes.CLASSES[i % len(shapes.CLASSES)]
        shapes.make_image(colour, shape, seed=i, size=size).save(root / f"img{i:02d}.png")
        lines.append(f"img{i:02d}.png,a photo of a {colour} {shape}")
    (root / "captions.csv").write_text("\n".join(lines) + "\n")
    return root


def test_shapes_two_processes_then_resume(tmp_path):
    out = tmp_path / "run"
    common = ["--data", "shapes", "--n-images", "48", "--batch-size", "8", "--out", str(out), *TINY]
    text = torchrun(["--steps", "4", *common])
    assert "training for 4 steps" in text and "2 process(es) x 8 = global batch 16" in text
    state = torch.load(out / "resume.pt", weights_only=False)
    assert state["step"] == 4 and state["world_size"] == 2
    rank0, rank1 = state["rng"]  # one RNG record per rank, and the ranks' streams differ
    assert not torch.equal(rank0["augment"], rank1["augment"])
    check_loads_with_clip(out / "clip.pt")
    weights_at_4 = torch.load(out / "clip.pt")

    # An interrupted job rerun with a longer target continues from the saved step.
    text = torchrun(["--steps", "8", *common])
    assert "resuming from step 4 of 8 steps" in text
    log = read_log(out)
    assert [r["step"] for r in log] == list(range(1, 9))  # steps 1-4 once, then 5-8: none redone
    assert all(r["lr"] > 0 for r in log[4:])  # the stretched schedule, not the old one's final 0
    assert torch.load(out / "resume.pt", weights_only=False)["step"] == 8
    model = check_loads_with_clip(out / "clip.pt")
    moved = max((torch.load(out / "clip.pt")[k] - v).abs().max().item() for k, v in weights_at_4.items())
    assert moved > 0, "steps 5-8 did not change the weights"
    assert model is not None


def test_folder_two_processes_match_one_process_on_the_global_batch(tmp_path):
    folder = make_folder(tmp_path / "photos")
    common = ["--data", str(folder), "--steps", "3", "--no-augment", *TINY]
    # 2 processes x 4 pairs, and 1 process x 8 pairs: the same global batches, the same loss.
    text = torchrun([*common, "--batch-size", "4", "--out", str(tmp_path / "ddp")])
    assert "24 pairs, 2 process(es) x 4 = global batch 8" in text
    check_loads_with_clip(tmp_path / "ddp" / "clip.pt")
    script.main([*common, "--batch-size", "8", "--out", str(tmp_path / "single")])
    ddp, single = torch.load(tmp_path / "ddp" / "clip.pt"), torch.load(tmp_path / "single" / "clip.pt")
    loss_diff = max(abs(a["loss"] - b["loss"]) for a, b in zip(read_log(tmp_path / "ddp"), read_log(tmp_path / "single")))
    weight_diff = max((ddp[k] - single[k]).abs().max().item() for k in single)
    print(f"2 processes vs 1 on the same global batches, 3 steps: max |loss diff| = {loss_diff:.2e}, "
          f"max |weight diff| = {weight_diff:.2e}")
    assert loss_diff < 1e-4 and weight_diff < 1e-4


def test_interrupted_run_resumes_exactly(tmp_path, capsys):
    # One process (in this interpreter): interrupted at step 3 and resumed == never interrupted,
    # augmentation noise included, because the RNG states travel in resume.pt.
    common = ["--data", "shapes", "--n-images", "24", "--batch-size", "8", "--steps", "6", *TINY]
    script.main([*common, "--out", str(tmp_path / "straight")])
    script.main([*common, "--out", str(tmp_path / "interrupted"), "--stop-after", "3", "--save-every", "2"])
    assert "stopped" in capsys.readouterr().out
    assert torch.load(tmp_path / "interrupted" / "resume.pt", weights_only=False)["step"] == 3
    script.main([*common, "--out", str(tmp_path / "interrupted")])
    assert "resuming from step 3 of 6" in capsys.readouterr().out
    straight = torch.load(tmp_path / "straight" / "clip.pt")
    resumed = torch.load(tmp_path / "interrupted" / "clip.pt")
    diff = max((straight[k] - resumed[k]).abs().max().item() for k in straight)
    assert diff == 0, f"resumed weights differ by {diff}"
    assert [r["loss"] for r in read_log(tmp_path / "straight")] == [r["loss"] for r in read_log(tmp_path / "interrupted")]


def error_of(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        script.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    message = err.strip().splitlines()[-1]  # (a progress bar may come first if an image breaks mid-run)
    assert message.startswith("error: ") and "Traceback" not in err
    return message


def test_bad_input_gets_one_sentence(tmp_path, capsys):
    out = ["--out", str(tmp_path / "out"), "--steps", "1", *TINY]
    assert "does not exist" in error_of(["--data", str(tmp_path / "nowhere"), *out], capsys)
    folder = make_folder(tmp_path / "photos", n=4)
    (folder / "captions.csv").rename(folder / "other.csv")
    assert "captions.csv not found" in error_of(["--data", str(folder), *out], capsys)
    (folder / "bad.csv").write_text("file,text\nimg00.png,a red circle\n")
    assert "needs ['filename', 'caption']" in error_of(["--data", str(folder), "--captions", str(folder / "bad.csv"), *out], capsys)
    (folder / "gone.csv").write_text("filename,caption\nimg00.png,a red circle\nnope.png,a cat\n")
    assert "'nope.png'" in error_of(["--data", str(folder), "--captions", str(folder / "gone.csv"), *out], capsys)
    (folder / "broken.png").write_bytes(b"not a png")
    (folder / "broken.csv").write_text("filename,caption\nbroken.png,a thing\n")
    assert "Cannot read image" in error_of(["--data", str(folder), "--captions", str(folder / "broken.csv"),
                                            "--batch-size", "1", *out], capsys)
    assert "lower --batch-size" in error_of(["--data", str(folder), "--captions", str(folder / "other.csv"),
                                             "--batch-size", "8", *out], capsys)
    assert "Resume file" in error_of(["--resume", str(tmp_path / "missing.pt"), *out], capsys)


def test_resume_refuses_another_model_size(tmp_path, capsys):
    common = ["--data", "shapes", "--n-images", "8", "--batch-size", "4", "--steps", "1", "--out", str(tmp_path)]
    script.main([*common, *TINY])
    message = error_of([*common, *TINY, "--layers", "2"], capsys)
    assert "was saved for model" in message and "--no-resume" in message


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_a_missing_gpu_is_one_sentence(tmp_path, capsys):
    assert "no CUDA GPU" in error_of(["--device", "cuda", "--out", str(tmp_path), *TINY], capsys)
