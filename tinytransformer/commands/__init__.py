"""The command line: `python -m tinytransformer {train,sample,eval,finetune} ...`.

The only code that reads argv or prints. Each command is a module with its parser and `main`,
and calls the library (training/, evaluation/, models/) to do the work:

    main.py       dispatches `python -m tinytransformer COMMAND` to the command's module
    args.py       flags shared by several commands (the training loop's, sampling's, types)
    train.py      pretrain a model on a corpus, then print a sample
    sample.py     sample text from a trained model
    evaluate.py   perplexity and latency of a run, or BLEU/ROUGE of text files
    finetune.py   fine-tune a model on the topic-classification task
    export.py     write a run's GPT as a Hugging Face directory
    exercises.py  build the student notebooks from the teacher's, list the exercises
    grade.py      run submitted notebooks, tabulate every exercise's status as a CSV
"""
