"""Run inside the CPU trainer image: greedy generation of the base model and of base + LoRA adapter with transformers
(float32), for prompts given as JSON on stdin: `{"base": DIR, "adapter": DIR, "prompts": [[message, ...], ...],
"max_new_tokens": N}`. Prints a JSON list, one entry per prompt: the adapter's text and, per generated token, the lead
of its top logprob over the runner-up (near-ties of random weights are where two correct engines may differ)."""

from __future__ import annotations

import json
import sys


def main() -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    request = json.load(sys.stdin)
    tokenizer = AutoTokenizer.from_pretrained(request["base"])
    base = AutoModelForCausalLM.from_pretrained(request["base"], torch_dtype=torch.float32)
    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(request["base"],
                                                                           torch_dtype=torch.float32),
                                      request["adapter"])
    out = []
    for messages in request["prompts"]:
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                            return_dict=True)["input_ids"]
        answers = {}
        for name, model in (("base", base), ("adapter", tuned)):
            generated = model.generate(ids, max_new_tokens=request["max_new_tokens"], do_sample=False,
                                       output_scores=True, return_dict_in_generate=True,
                                       eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
            tokens = generated.sequences[0, ids.shape[1]:].tolist()
            leads = []
            for score in generated.scores:
                top = torch.log_softmax(score[0].float(), dim=-1).topk(2).values
                leads.append(float(top[0] - top[1]))
            if tokens and tokens[-1] == tokenizer.eos_token_id:
                tokens, leads = tokens[:-1], leads[:-1]
            answers[name] = {"tokens": tokens, "leads": leads,
                             "pieces": [tokenizer.decode(tokens[:n]) for n in range(len(tokens) + 1)]}
        out.append(answers)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
