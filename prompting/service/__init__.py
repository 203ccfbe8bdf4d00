"""What the web app and its API do with the core, without gradio: config, sessions, workflows."""
