// placeholder: being written by the helper
