"""The studio: a browser page that shows a video while it is generated and takes prompt changes as it
plays (`vidgpt-studio`, the optional `studio` extra). `session` holds the logic, `app` the Gradio page."""
