"""The /play/ demo (issue 14): a three.js page that plays one room of the game socket through the
JS client (clients/js). It owns the page, its static files and the finder that serves three.js
and the client from where npm and the repository keep them; it imports nothing from rooms or chat.
"""
