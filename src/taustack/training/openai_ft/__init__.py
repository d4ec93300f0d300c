"""`taustack train openai`: supervised fine-tuning on OpenAI's API from a taustack dataset folder.

dataset.py checks train.jsonl/test.jsonl before anything is uploaded; api.py is the one path to the API (the key
from the environment only, every API error one line without it); submit.py uploads and creates the job;
follow.py polls status and events; results.py writes the output folder; command.py strings them together.

The output folder (`--out`, default runs/openai-<job id>/):

  submitted.json   what was sent: dataset path and sha256, file ids, model, the hyperparameters given, suffix, seed
  job.json         written when the job ends: {"job": the job object, "checkpoints": [...], "result_files": [...]}
  metrics.csv      the job's step metrics (its result file, decoded): step,train_loss,train_accuracy,valid_loss,...
  loss.png         train/validation loss against step (loss.svg where matplotlib is not installed)
"""

from __future__ import annotations

from taustack.errors import TaustackError

KEY_ENV = "OPENAI_API_KEY"
BASE_URL_ENV = "OPENAI_BASE_URL"
POLL_ENV = "TAUSTACK_OPENAI_POLL_S"
DEFAULT_POLL_S = 5.0
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
DETACHED_EXIT = 130  # Ctrl-C while following: the job keeps running, the shell sees an interrupted command


class FineTuneError(TaustackError):
    """Bad input, an API error or a job that did not succeed: one line, never the key."""
