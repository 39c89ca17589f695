"""Fine-tuning of the Whisper-encoder genre classifier (accelerate), evaluation, model card, push.

    python -m training --help            accelerate launch -m training ...
    python -m training.evaluate MODEL --data DATA
    python -m training.push FOLDER REPO_ID
"""
