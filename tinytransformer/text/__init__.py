"""Text, from a corpus to batches of token ids, in the order of the data flow:

    corpora.py      where text comes from (the embedded python-docs, Tiny Shakespeare, a file)
                    and clean_text
    docstrings.py   a larger corpus of the same kind: the standard library's docstrings
    bpe.py          the byte-pair merge engine both BPE tokenizers encode with (GPT-2's too)
    tokenizers.py   CharTokenizer and the byte-level BPETokenizer, with special tokens
    gpt2_tokenizer.py  GPT-2's own byte-level BPE tokenizer, from its published files
    hf_tokenizer.py    our tokenizers as Hugging Face tokenizer.json files, and back
    pretrained.py   the tokenizer that goes with a Hugging Face model directory
    batching.py     the train/val split, Batch, random windows, padding with an attention mask
    augment.py      data augmentation: training windows with some input tokens noised
    masking.py      masked-LM targets (BERT's rule)
    dataset.py      prepare_data: all of the above in one call
    topic_task.py   the labelled task for fine-tuning (which kind of doc a paragraph is from)
    python_source.py  the stdlib's top-level modules as a code corpus, held out by file;
                    function headers, completions cut where a function ends, a counting baseline
    summaries.py    docstring body -> first line pairs (held out by file), the lead baseline

Text imports no model.
"""
